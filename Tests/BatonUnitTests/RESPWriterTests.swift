import CHiredis
import BatonTestSupport
import Glibc
@testable import BatonRedis
import Testing

/// Baton frames its Redis commands itself (``RESPWriter``): the bytes must be exactly what
/// hiredis' own argv formatter (`redisFormatCommandArgv`, what `redisCommandArgv` sent
/// before) writes for the same arguments, for any bytes an argument may hold.
@Suite struct RESPWriterTests {
    /// hiredis' framing of the command's arguments.
    func hiredis(_ command: RedisCommand) -> [UInt8] {
        command.withArgv { argv, lengths in
            var target: UnsafeMutablePointer<CChar>?
            let n = redisFormatCommandArgv(&target, Int32(command.count), argv, lengths)
            defer { redisFreeCommand(target) }
            guard n >= 0, let target else { return [] }
            return Array(UnsafeRawBufferPointer(start: target, count: Int(n)))
        }
    }

    func ours(_ command: RedisCommand) -> [UInt8] {
        RESPWriter.withFramed(command) { Array($0) }
    }

    func command(_ args: [[UInt8]]) -> RedisCommand {
        var c = RedisCommand()
        for a in args { c.append(bytes: a) }
        return c
    }

    /// The arguments read back from the framed buffer are the ones appended (the change
    /// feed hands them to hiredis this way).
    @Test func argvReadsBackWhatWasAppended() {
        let args: [[UInt8]] = [Array("EVALSHA".utf8), [], [0x0D, 0x0A, 0x00], Array(repeating: 0x24, count: 1_000), Array("-42".utf8)]
        var c = command(args)
        c.append(Int64(-9_223_372_036_854_775_807))
        c.append(0)
        let expected = args + [Array("-9223372036854775807".utf8), Array("0".utf8)]
        let read: [[UInt8]] = c.withArgv { argv, lengths in
            (0..<c.count).map { i in Array(UnsafeRawBufferPointer(start: argv[i], count: lengths[i])) }
        }
        #expect(c.count == expected.count)
        #expect(read == expected)
    }

    @Test func aKnownCommandIsFramedAsRESP() {
        let c = RedisCommand(["SET", "k", ""])
        #expect(ours(c) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".utf8))
        #expect(ours(c) == hiredis(c))
    }

    @Test func edgeCasesMatchHiredis() {
        let long = [UInt8](repeating: 0x61, count: 100_000)
        let sets: [[[UInt8]]] = [
            [],
            [[]],
            [[], [], []],
            [Array("PING".utf8)],
            [Array("SET".utf8), Array("key\r\nwith CRLF".utf8), [0x0D, 0x0A, 0x0D, 0x0A]],
            [Array("SET".utf8), [0x00], [0x00, 0xFF, 0x80, 0x24, 0x2A]],
            [Array("SET".utf8), Array("ключ".utf8), Array("日本語 🎉".utf8)],
            [Array("$1\r\nx".utf8), Array("*2".utf8)],
            [Array("EVALSHA".utf8), long, Array("9".utf8)],
            Array(repeating: Array("x".utf8), count: 10),
            Array(repeating: Array("yy".utf8), count: 123),
            (0..<256).map { [UInt8($0)] },
        ]
        for args in sets {
            let c = command(args)
            #expect(ours(c) == hiredis(c), "arguments \(args.map(\.count))")
        }
    }

    @Test func integersAndStringsMatchHiredis() {
        var c = RedisCommand()
        c.append("EVALSHA")
        for v: Int64 in [0, 1, -1, 9, 10, 99, 100, 12_345, Int64.max, Int64.min] { c.append(v) }
        c.append("")
        c.append("baton:lease:{a}")
        #expect(ours(c) == hiredis(c))
    }

    /// Random arguments of random lengths around the digit boundaries of `$len`.
    @Test func randomArgumentsMatchHiredis() {
        var rng = SplitMix64(seed: 17)
        for _ in 0..<300 {
            var c = RedisCommand()
            for _ in 0..<Int(rng.next() % 14) {
                let n = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 1_001][Int(rng.next() % 11)]
                c.append(bytes: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
            #expect(ours(c) == hiredis(c))
        }
    }
}
