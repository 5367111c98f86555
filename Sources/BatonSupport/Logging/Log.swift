internal import Glibc
public import Synchronization

/// Structured logging to standard error: one line per event, JSON (for collectors) or
/// text (for people). Fields are typed so nothing needs escaping by hand. Secrets never
/// reach here: callers log names, paths and outcomes, not tokens, bodies or query strings.
///
/// Lines are built as bytes, without `String(format:)` or per-character string appends:
/// the access log writes one per request.
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
    private let sink: @Sendable ([UInt8]) -> Void
    private let clock: any Clock

    /// The process-wide logger; batond replaces it after reading its configuration.
    public static let shared = Mutex<Log>(Log(level: .info, format: .json))
    public static var current: Log { shared.withLock { $0 } }

    /// - Parameter sink: receives each line as UTF-8, newline included.
    public init(level: Level, format: Format, clock: any Clock = SystemClock(),
                sink: @escaping @Sendable ([UInt8]) -> Void = Log.standardError) {
        self.level = level
        self.format = format
        self.clock = clock
        self.sink = sink
    }

    public static let standardError: @Sendable ([UInt8]) -> Void = { line in
        // One write(2) per line: lines from different threads never interleave.
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    public func enabled(_ l: Level) -> Bool { l >= level }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.info, message, fields) }
    public func warn(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.warn, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, Value> = [:]) { emit(.error, message, fields) }

    public func emit(_ l: Level, _ message: String, _ fields: KeyValuePairs<String, Value>) {
        guard l >= level else { return }
        sink(render(l, message, fields))
    }

    /// One line, newline included.
    func render(_ l: Level, _ message: String, _ fields: KeyValuePairs<String, Value>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + message.utf8.count)
        switch format {
        case .json:
            out.append(contentsOf: #"{"ts":""#.utf8)
            Timestamp.append(ms: clock.wallMs(), to: &out)
            out.append(contentsOf: #"","level":""#.utf8)
            out.append(contentsOf: l.name.utf8)
            out.append(contentsOf: #"","msg":"#.utf8)
            Self.quote(message, &out)
            for (k, v) in fields {
                out.append(UInt8(ascii: ","))
                Self.quote(k, &out)
                out.append(UInt8(ascii: ":"))
                switch v {
                case .string(let s): Self.quote(s, &out)
                case .int(let i): out.append(contentsOf: String(i).utf8)
                case .double(let d): Self.fixed3(d, &out, nonFinite: "null")
                case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
                }
            }
            out.append(UInt8(ascii: "}"))
        case .text:
            Timestamp.append(ms: clock.wallMs(), to: &out)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: l.name.uppercased().utf8)
            out.append(UInt8(ascii: " "))
            // The message is the program's own words, but may carry a value: its line
            // breaks and control characters are escaped as in a quoted value.
            Self.escape(message, &out)
            for (k, v) in fields {
                out.append(UInt8(ascii: " "))
                Self.escape(k, &out)
                out.append(UInt8(ascii: "="))
                switch v {
                case .string(let s):
                    // Bare only when plain printable ASCII without spaces, quotes or
                    // backslashes; anything else quoted and escaped, so no value (a
                    // percent-decoded path with %0A, say) can end the line or fake a field.
                    if Self.isPlain(s) { out.append(contentsOf: s.utf8) } else { Self.quote(s, &out) }
                case .int(let i): out.append(contentsOf: String(i).utf8)
                case .double(let d): Self.fixed3(d, &out, nonFinite: String(d))
                case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
                }
            }
        }
        out.append(0x0A)
        return out
    }

    /// Whether a text-format value can be written bare: non-empty, every byte printable
    /// ASCII (0x21-0x7E) other than `"` and `\\`.
    static func isPlain(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// `s` as a JSON string. Swift strings are valid UTF-8, so bytes of 0x80 and above pass
    /// through, except the C1 controls (U+0080-U+009F) and U+2028/U+2029, which some
    /// viewers take as line breaks; quotes, backslashes and control characters are escaped.
    static func quote(_ s: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        escape(s, &out, quotes: true)
        out.append(UInt8(ascii: "\""))
    }

    /// The body of ``quote(_:_:)``; with `quotes` false, `"` and `\\` pass through (a text message).
    static func escape(_ s: String, _ out: inout [UInt8], quotes: Bool = false) {
        let hex = Array("0123456789abcdef".utf8)
        func u(_ v: UInt32) {
            out.append(contentsOf: [0x5C, UInt8(ascii: "u")])
            for shift in [12, 8, 4, 0] { out.append(hex[Int((v >> UInt32(shift)) & 0xF)]) }
        }
        var it = s.utf8.makeIterator()
        var pending: [UInt8] = []
        while let b = pending.isEmpty ? it.next() : pending.removeFirst() {
            switch b {
            case UInt8(ascii: "\"") where quotes: out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\") where quotes: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F: u(UInt32(b))
            case 0xC2:
                // U+0080-U+009F are C2 80-9F.
                guard let c = it.next() else { out.append(b); continue }
                if c >= 0x80 && c <= 0x9F { u(UInt32(c)) } else { out.append(b); pending.append(c) }
            case 0xE2:
                // U+2028, U+2029 are E2 80 A8, E2 80 A9.
                guard let c = it.next() else { out.append(b); continue }
                guard c == 0x80, let d = it.next() else { out.append(b); pending.append(c); continue }
                if d == 0xA8 || d == 0xA9 { u(0x2000 | 0x20 | UInt32(d - 0xA0)) } else { out.append(contentsOf: [b, c]); pending.append(d) }
            default: out.append(b)
            }
        }
    }

    /// `d` with three decimals (`12.345`, `-0.500`), as `%.3f` would print it.
    static func fixed3(_ d: Double, _ out: inout [UInt8], nonFinite: String) {
        guard d.isFinite, abs(d) < 1e15 else {
            out.append(contentsOf: (d.isFinite ? printf3(d) : nonFinite).utf8)
            return
        }
        let thousandths = Int64((abs(d) * 1000).rounded())
        if d < 0 && thousandths > 0 { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: String(thousandths / 1000).utf8)
        out.append(UInt8(ascii: "."))
        Timestamp.digits(thousandths % 1000, 3, &out)
    }

    /// `%.3f` of C's printf, for the huge values the integer path above cannot hold.
    static func printf3(_ d: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 400)  // DBL_MAX is 309 digits
        let n = withVaList([d]) { vsnprintf(&buffer, buffer.count, "%.3f", $0) }
        return String(decoding: buffer.prefix(max(0, min(Int(n), buffer.count - 1))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
