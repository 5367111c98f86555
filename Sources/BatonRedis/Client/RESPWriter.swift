/// The RESP wire form of a ``RedisCommand``: `*N\r\n` then `$len\r\n<bytes>\r\n` per
/// argument, exactly what hiredis' `redisFormatCommandArgv` writes (a unit test compares
/// them byte for byte).
///
/// Why not let hiredis format it: `redisCommandArgv` formats with `sdscatfmt`, a
/// printf-like loop, and grows its buffer as it goes — about 7,000 of the 12,000
/// instructions hiredis spent per `POST /leader` (callgrind, issue 17). Here the size is
/// known up front and the bytes are copied once. It stays argv-style: every argument goes
/// in with its length, so any byte (CR, LF, NUL) is data, never syntax.
enum RESPWriter {
    /// Calls `body` with the command's RESP bytes (valid only inside `body`); small
    /// commands are framed on the stack.
    static func withFramed<R>(_ command: RedisCommand, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var size = 3 + digitCount(command.count)
        var from = 0
        for end in command.ends {
            let n = end - from
            size += 5 + digitCount(n) + n
            from = end
        }
        return withUnsafeTemporaryAllocation(byteCount: size, alignment: 1) { out in
            let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var w = 0
            func header(_ marker: UInt8, _ n: Int) {
                base[w] = marker
                w += 1
                let digits = digitCount(n)
                var v = n
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
            }
            header(UInt8(ascii: "*"), command.count)
            command.bytes.withUnsafeBufferPointer { args in
                var from = 0
                for end in command.ends {
                    let n = end - from
                    header(UInt8(ascii: "$"), n)
                    if n > 0 { (base + w).update(from: args.baseAddress! + from, count: n) }
                    w += n
                    base[w] = 0x0D
                    base[w + 1] = 0x0A
                    w += 2
                    from = end
                }
            }
            return body(UnsafeRawBufferPointer(start: out.baseAddress, count: w))
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
