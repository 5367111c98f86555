import Foundation
import Synchronization

/// Structured logging to standard error: one line per event, JSON (for collectors) or
/// text (for people). Fields are typed so nothing needs escaping by hand. Secrets never
/// reach here: callers log names, paths and outcomes, not tokens, bodies or query strings.
public final class Log: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["debug", "info", "warn", "error"][rawValue] }
        public init?(name: String) {
            guard let l = Level.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = l
        }
    }

    public enum Format: String, Sendable, CaseIterable {
        case json, text
    }

    /// A log field value.
    public enum Value: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case string(String)
        case int(Int64)
        case double(Double)
        case bool(Bool)
        public init(stringLiteral s: String) { self = .string(s) }
        public init(integerLiteral i: Int64) { self = .int(i) }
    }

    public let level: Level
    public let format: Format
    private let sink: @Sendable (String) -> Void

    /// The process-wide logger; batond replaces it after reading its configuration.
    public static let shared = Mutex<Log>(Log(level: .info, format: .json))
    public static var current: Log { shared.withLock { $0 } }

    public init(level: Level, format: Format, sink: @escaping @Sendable (String) -> Void = Log.standardError) {
        self.level = level
        self.format = format
        self.sink = sink
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        // One write(2) per line: lines from different threads never interleave.
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    public func enabled(_ l: Level) -> Bool { l >= level }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.info, message, fields) }
    public func warn(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.warn, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.error, message, fields) }

    public func emit(_ l: Level, _ message: String, _ fields: KeyValuePairs<String, Value>) {
        guard l >= level else { return }
        sink(render(l, message, Array(fields)))
    }

    func render(_ l: Level, _ message: String, _ fields: [(key: String, value: Value)]) -> String {
        let ts = Timestamp.rfc3339(ms: SystemClock().wallMs())
        switch format {
        case .json:
            var s = "{\"ts\":\"\(ts)\",\"level\":\"\(l.name)\",\"msg\":\(Self.quoted(message))"
            for (k, v) in fields { s += ",\(Self.quoted(k)):\(Self.json(v))" }
            return s + "}"
        case .text:
            var s = "\(ts) \(l.name.uppercased()) \(message)"
            for (k, v) in fields { s += " \(k)=\(Self.text(v))" }
            return s
        }
    }

    private static func json(_ v: Value) -> String {
        switch v {
        case .string(let s): return quoted(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(format: "%.3f", d) : "null"
        case .bool(let b): return b ? "true" : "false"
        }
    }

    private static func text(_ v: Value) -> String {
        switch v {
        case .string(let s): return s.contains(" ") || s.isEmpty ? quoted(s) : s
        case .int(let i): return String(i)
        case .double(let d): return String(format: "%.3f", d)
        case .bool(let b): return b ? "true" : "false"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
