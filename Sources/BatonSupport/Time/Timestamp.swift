/// RFC 3339 timestamps in UTC with milliseconds, without Foundation's formatters
/// (this is on the hot path of every answer that shows a time, and of every log line).
public enum Timestamp {
    /// `2026-11-27T01:02:03.123Z` for `ms` milliseconds since the Unix epoch.
    public static func rfc3339(ms: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        append(ms: ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The longest form ``write(ms:to:)`` writes (24 bytes for any year 0-9999).
    public static let maxLength = 32

    /// Appends the RFC 3339 form of `ms` to `out` as UTF-8.
    public static func append(ms: Int64, to out: inout [UInt8]) {
        var text: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &text) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: write(ms: ms, to: p)))
        }
    }

    /// Writes the RFC 3339 form of `ms` at `p`, which has room for ``maxLength`` bytes, and
    /// returns how many it wrote.
    public static func write(ms: Int64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let h = msOfDay / 3_600_000, mi = msOfDay / 60_000 % 60, s = msOfDay / 1_000 % 60, milli = msOfDay % 1_000
        guard y >= 0 && y <= 9999 else {
            // Outside four-digit years: each field as it is (never on a real clock; the
            // years of an Int64 of milliseconds have at most 9 digits, so 29 bytes at most).
            var out: [UInt8] = []
            digits(y, 4, &out)
            for (separator, value, width) in [(UInt8(ascii: "-"), m, 2), (UInt8(ascii: "-"), d, 2), (UInt8(ascii: "T"), h, 2),
                                              (UInt8(ascii: ":"), mi, 2), (UInt8(ascii: ":"), s, 2), (UInt8(ascii: "."), milli, 3)] {
                out.append(separator)
                digits(value, width, &out)
            }
            out.append(UInt8(ascii: "Z"))
            let n = min(out.count, maxLength)
            out.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: n) }
            return n
        }
        // The 24 bytes are formed in place: appending field by field cost about 1,000
        // instructions per timestamp (callgrind, issue 17).
        func put(_ value: Int64, at start: Int, width: Int) {
            var v = value, k = start &+ width
            while k > start {
                k &-= 1
                p[k] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
                v /= 10
            }
        }
        // The separators from the layout, then each field into its digits' place.
        let layout: StaticString = "0000-00-00T00:00:00.000Z"
        UnsafeMutableRawPointer(p).copyMemory(from: layout.utf8Start, byteCount: 24)
        put(y, at: 0, width: 4); put(m, at: 5, width: 2); put(d, at: 8, width: 2)
        put(h, at: 11, width: 2); put(mi, at: 14, width: 2); put(s, at: 17, width: 2); put(milli, at: 20, width: 3)
        return 24
    }

    /// `v` in decimal, zero-padded to `width` (wider values, and negative years, as they are).
    static func digits(_ v: Int64, _ width: Int, _ out: inout [UInt8]) {
        DecimalDigits.append(v, minimumWidth: v >= 0 ? width : 1, to: &out)
    }
}
