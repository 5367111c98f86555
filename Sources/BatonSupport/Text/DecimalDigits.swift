/// Integers as decimal text appended to a byte buffer: the one digit writer of the hot
/// path's encoders (JSON answers, Redis command arguments, timestamps).
///
/// Why not `String(v).utf8`: the `String` costs an allocation-free but generic detour
/// (`description` through a witness, then a copy), and appending digit by digit pays the
/// array's capacity check per byte; both were visible in callgrind (issue 17: about 1,300
/// instructions per `POST /leader` for its five Redis integer arguments, 1,050 for one
/// timestamp). Digits are formed on the stack and appended once.
public enum DecimalDigits {
    /// Appends `v` in decimal, with a leading `-` when negative.
    public static func append(_ v: Int64, to out: inout [UInt8]) {
        append(v, minimumWidth: 1, to: &out)
    }

    /// Appends `v` in decimal, zero-padded to at least `minimumWidth` digits (at most 20;
    /// the sign is not counted).
    public static func append(_ v: Int64, minimumWidth: Int, to out: inout [UInt8]) {
        // 24 bytes on the stack: at most 20 digits (Int64.min has 19) and the sign.
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var magnitude = v.magnitude
        let width = min(max(minimumWidth, 1), 20)
        withUnsafeMutableBytes(of: &text) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = 24
            repeat {
                i &-= 1
                let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10)
                p[i] = UInt8(truncatingIfNeeded: r) &+ 0x30
                magnitude = q
            } while magnitude > 0
            while 24 &- i < width {
                i &-= 1
                p[i] = 0x30
            }
            if v < 0 {
                i &-= 1
                p[i] = UInt8(ascii: "-")
            }
            out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: 24 &- i))
        }
    }
}
