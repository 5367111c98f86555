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

    /// Appends the RFC 3339 form of `ms` to `out` as UTF-8.
    public static func append(ms: Int64, to out: inout [UInt8]) {
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
        digits(y, 4, &out)
        out.append(UInt8(ascii: "-"))
        digits(m, 2, &out)
        out.append(UInt8(ascii: "-"))
        digits(d, 2, &out)
        out.append(UInt8(ascii: "T"))
        digits(h, 2, &out)
        out.append(UInt8(ascii: ":"))
        digits(mi, 2, &out)
        out.append(UInt8(ascii: ":"))
        digits(s, 2, &out)
        out.append(UInt8(ascii: "."))
        digits(milli, 3, &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// `v` in decimal, zero-padded to `width` (wider values, and negative years, as they are).
    static func digits(_ v: Int64, _ width: Int, _ out: inout [UInt8]) {
        var limit: Int64 = 1
        for _ in 0..<width { limit *= 10 }
        guard v >= 0, v < limit else {
            out.append(contentsOf: String(v).utf8)
            return
        }
        var div = limit / 10
        while div > 0 {
            out.append(UInt8(ascii: "0") + UInt8(v / div % 10))
            div /= 10
        }
    }
}
