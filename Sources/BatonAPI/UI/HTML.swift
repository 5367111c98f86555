import BatonCore
import BatonSupport

/// Escaping for text and attribute values on the incident page. Holder names, task
/// names, details and errors come from clients or backends: nothing reaches the page
/// without passing through here.
enum HTML {
    static func escape(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default:
                // Control characters (other than tab and newline) have no place on the page.
                if c.value < 0x20 && c != "\t" && c != "\n" { o += "\u{FFFD}" } else { o.unicodeScalars.append(c) }
            }
        }
        return o
    }

    /// `2026-11-27 01:02:03Z` (seconds are enough on a status page).
    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "–" }
        let s = Timestamp.rfc3339(ms: ms)
        return String(s.prefix(19).map { $0 == "T" ? " " : $0 }) + "Z"
    }

    /// `3h 02m`, `4m 05s`, `12s`, `850ms`.
    static func duration(ms: Int64?) -> String {
        guard let ms else { return "–" }
        if ms < 0 { return "-" + duration(ms: -ms) }
        if ms < 1_000 { return "\(ms)ms" }
        let s = ms / 1_000
        if s < 60 { return "\(s)s" }
        if s < 3_600 { return "\(s / 60)m \(pad(s % 60))s" }
        if s < 86_400 { return "\(s / 3_600)h \(pad(s / 60 % 60))m" }
        return "\(s / 86_400)d \(pad(s / 3_600 % 24))h"
    }

    private static func pad(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
