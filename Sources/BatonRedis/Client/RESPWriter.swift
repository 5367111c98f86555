/// The RESP wire form of a ``RedisCommand``: `*N\r\n` then `$len\r\n<bytes>\r\n` per
/// argument, exactly what hiredis' `redisFormatCommandArgv` writes (a unit test compares
/// them byte for byte).
///
/// Why not let hiredis format it: `redisCommandArgv` formats with `sdscatfmt`, a
/// printf-like loop, and grows its buffer as it goes — about 7,000 of the 12,000
/// instructions hiredis spent per `POST /leader` (callgrind, issue 17). The arguments are
/// framed as they are appended (``RedisCommand``); here the header goes in front and the
/// bytes are copied once. It stays argv-style: every argument goes in with its length, so
/// any byte (CR, LF, NUL) is data, never syntax.
enum RESPWriter {
    /// Calls `body` with the command's RESP bytes (valid only inside `body`); small
    /// commands are framed on the stack.
    static func withFramed<R>(_ command: RedisCommand, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        command.framed.withUnsafeBufferPointer { args in
            // `*`, at most 20 digits, CR LF.
            withUnsafeTemporaryAllocation(byteCount: 23 + args.count, alignment: 1) { out in
                let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                base[0] = UInt8(ascii: "*")
                var w = 1
                let digits = digitCount(command.count)
                var v = command.count
                var i = w + digits
                repeat {
                    i -= 1
                    base[i] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
                    v /= 10
                } while v > 0
                w += digits
                base[w] = 0x0D
                base[w + 1] = 0x0A
                w += 2
                if let from = args.baseAddress, args.count > 0 { (base + w).update(from: from, count: args.count) }
                w += args.count
                return body(UnsafeRawBufferPointer(start: out.baseAddress, count: w))
            }
        }
    }

    /// Decimal digits of a non-negative `n`.
    @inline(__always)
    static func digitCount(_ n: Int) -> Int {
        var digits = 1
        var v = n
        while v >= 10 {
            v /= 10
            digits += 1
        }
        return digits
    }
}
