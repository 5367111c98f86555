import Foundation

enum Format {
    /// "2026-11-27 01:02:03Z": short, UTC, sortable.
    static func shortTime(_ date: Date?) -> String {
        guard let date else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return formatter.string(from: date)
    }

    /// A duration for humans: 850ms, 12.3s, 4m05s, 2h10m, 3d04h.
    static func duration(ms: Int64) -> String {
        let negative = ms < 0
        let ms = abs(ms)
        let text: String
        if ms < 1000 {
            text = "\(ms)ms"
        } else if ms < 60_000 {
            let tenths = (ms + 50) / 100
            text = tenths % 10 == 0 || ms >= 10_000 ? "\((ms + 500) / 1000)s" : "\(tenths / 10).\(tenths % 10)s"
        } else if ms < 3_600_000 {
            let s = (ms + 500) / 1000
            text = "\(s / 60)m" + String(format: "%02ds", Int(s % 60))
        } else if ms < 86_400_000 {
            let m = (ms + 30_000) / 60_000
            text = "\(m / 60)h" + String(format: "%02dm", Int(m % 60))
        } else {
            let h = (ms + 1_800_000) / 3_600_000
            text = "\(h / 24)d" + String(format: "%02dh", Int(h % 24))
        }
        return negative ? "-" + text : text
    }

    static func duration(ms: Int?) -> String {
        guard let ms else { return "-" }
        return duration(ms: Int64(ms))
    }

    /// "3m10s ago" relative to now.
    static func ago(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "-" }
        let ms = Int64((now.timeIntervalSince(date) * 1000).rounded())
        if ms < 0 { return "in " + duration(ms: -ms) }
        return duration(ms: ms) + " ago"
    }

    /// The longest prefix of `text` that fits in `maxBytes` UTF-8 bytes (whole characters).
    static func utf8Prefix(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var out = ""
        var used = 0
        for ch in text {
            let n = String(ch).utf8.count
            if used + n > maxBytes { break }
            out.append(ch)
            used += n
        }
        return out
    }

    static func truncate(_ text: String, _ width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        guard flat.count > width, width > 1 else { return flat }
        return String(flat.prefix(width - 1)) + "…"
    }
}
