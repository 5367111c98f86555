/// Integers as decimal text appended to a byte buffer: the one digit writer of the hot
/// path's encoders (JSON answers, Redis command arguments, timestamps).
///
/// Why not `String(v).utf8`: the `String` costs an allocation-free but generic detour
/// (`description` through a witness, then a copy), and appending digit by digit pays the
/// array's capacity check per byte; both were visible in callgrind (issue 17: about 1,300
/// instructions per `POST /leader` for its five Redis integer arguments, 1,050 for one
/// timestamp). Digits are formed on the stack, two per division, and appended once
/// (fencing tokens have 16 digits: one per division cost about 250 instructions each).
public enum DecimalDigits {
    /// Appends `v` in decimal, with a leading `-` when negative.
    public static func append(_ v: Int64, to out: inout [UInt8]) {
        append(v, minimumWidth: 1, to: &out)
    }

    /// How many bytes ``append(_:to:)`` writes for `v` (its digits and sign).
    public static func count(_ v: Int64) -> Int {
        var n = v < 0 ? 2 : 1
        var m = v.magnitude
        while m >= 10 {
            m /= 10
            n += 1
        }
        return n
    }

    /// "00" "01" … "99": the two digits of every value below 100.
    private static let pairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Appends `v` in decimal, zero-padded to at least `minimumWidth` digits (at most 20;
    /// the sign is not counted).
    public static func append(_ v: Int64, minimumWidth: Int, to out: inout [UInt8]) {
        // 24 bytes on the stack: at most 20 digits (Int64.min has 19) and the sign.
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &text) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let n = write(v, minimumWidth: minimumWidth, endingAt: p + 24)
            out.append(contentsOf: UnsafeBufferPointer(start: p + 24 - n, count: n))
        }
    }

    /// Writes `v` in decimal so that its last byte is just before `end`, zero-padded to at
    /// least `minimumWidth` digits (at most 20; the sign is not counted), and returns how
    /// many bytes it wrote: at most 21, all before `end`.
    public static func write(_ v: Int64, minimumWidth: Int = 1, endingAt end: UnsafeMutablePointer<UInt8>) -> Int {
        // Most are below 100: the lengths of a Redis command's arguments, counts.
        if v >= 0 && v < 100 && minimumWidth <= 2 {
            if v < 10 && minimumWidth <= 1 {
                end[-1] = UInt8(truncatingIfNeeded: v) &+ 0x30
                return 1
            }
            end[-2] = UInt8(truncatingIfNeeded: v / 10) &+ 0x30
            end[-1] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
            return 2
        }
        var magnitude = v.magnitude
        let width = min(max(minimumWidth, 1), 20)
        let table = pairs.utf8Start
        var i = 0
        while magnitude >= 100 {
            let (q, r) = magnitude.quotientAndRemainder(dividingBy: 100)
            i &+= 2
            end[-i] = table[Int(truncatingIfNeeded: r) &* 2]
            end[1 &- i] = table[Int(truncatingIfNeeded: r) &* 2 &+ 1]
            magnitude = q
        }
        if magnitude >= 10 {
            i &+= 2
            end[-i] = table[Int(truncatingIfNeeded: magnitude) &* 2]
            end[1 &- i] = table[Int(truncatingIfNeeded: magnitude) &* 2 &+ 1]
        } else {
            i &+= 1
            end[-i] = UInt8(truncatingIfNeeded: magnitude) &+ 0x30
        }
        while i < width {
            i &+= 1
            end[-i] = 0x30
        }
        if v < 0 {
            i &+= 1
            end[-i] = UInt8(ascii: "-")
        }
        return i
    }
}
