/// A strict RFC 8259 parser over bytes. Rejects trailing data, duplicate keys, invalid
/// UTF-8 escapes, leading zeros, nesting deeper than `maxDepth` and objects with more than
/// `maxKeys` members, so what a handler sees is exactly what the client sent.
///
/// Linear in the input: the duplicate-key check scans the few keys of a small object and
/// hashes the keys of a larger one. (It used to scan every earlier key: a 64 KiB body of
/// 7,766 keys took 2.2 s in a debug build, on the open `POST /sessions/validate`.)
public struct JSONParser {
    /// Why a document was rejected, with the byte offset.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let message: String
        public let offset: Int
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// The document, valid while `parse` runs: read through a pointer, without the array's
    /// retain and bounds check on every byte (issue 17: the parse of a `POST /leader` body
    /// retained the array 5 times per string).
    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private let maxDepth: Int
    private let maxKeys: Int

    /// Most members an object may have by default. Baton's request bodies have at most 7;
    /// the bound keeps a body made of keys from costing anything.
    public static let defaultMaxKeys = 128

    /// Objects up to this size are checked for duplicates by scanning (cheaper than hashing).
    static let scanKeysUpTo = 8

    /// Parses one JSON document.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 32, maxKeys: Int = defaultMaxKeys) throws(Error) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(Error) -> JSONValue in
            var p = JSONParser(bytes: buffer, maxDepth: maxDepth, maxKeys: maxKeys)
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == buffer.count else { throw p.fail("unexpected data after the JSON value") }
            return v
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxKeys: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxKeys = maxKeys
    }

    private func fail(_ message: String) -> Error { Error(message: message, offset: i) }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(Error) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Error) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of JSON") }
        let w = UnsafeBufferPointer(start: word.utf8Start, count: n)
        for k in 0..<n where bytes[i + k] != w[k] { throw fail("invalid literal") }
        i += n
    }

    private mutating func object(depth: Int) throws(Error) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested too deeply") }
        i += 1
        var pairs: [(String, JSONValue)] = []
        // Room for a request body's fields at once: growing 1, 2, 4 cost three allocations
        // per POST /leader (callgrind, issue 17).
        pairs.reserveCapacity(8)
        var seen: Set<String> = []  // filled once the object outgrows scanning
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            guard pairs.count < maxKeys else { throw fail("object has more than \(maxKeys) keys (the limit)") }
            let key = try string()
            if pairs.count < Self.scanKeysUpTo {
                if pairs.contains(where: { sameKey($0.0, key) }) { throw fail("duplicate key \"\(key.prefix(64))\"") }
            } else {
                if seen.isEmpty { seen = Set(pairs.map(\.0)) }
                guard seen.insert(key).inserted else { throw fail("duplicate key \"\(key.prefix(64))\"") }
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            pairs.append((key, try value(depth: depth)))
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array(depth: Int) throws(Error) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested too deeply") }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func number() throws(Error) -> JSONValue {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw fail("leading zero in number") }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if integral, let v = Self.integer(UnsafeBufferPointer(rebasing: bytes[start..<i])) { return .int(v) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw Error(message: "number out of range", offset: start) }
        return .double(d)
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// The integer `-?[0-9]+` spells, nil when it does not fit in 64 bits: what `Int64(String)`
    /// answers for these digits, without making the String.
    private static func integer(_ digits: UnsafeBufferPointer<UInt8>) -> Int64? {
        let negative = digits.first == UInt8(ascii: "-")
        var magnitude: UInt64 = 0
        for b in digits.dropFirst(negative ? 1 : 0) {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (n, o2) = m.addingReportingOverflow(UInt64(b &- 0x30))
            if o1 || o2 { return nil }
            magnitude = n
        }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    private mutating func string() throws(Error) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
            // The whole string: made straight from the input, without a copy.
            let end = i
            i += 1
            guard let s = Self.utf8String(UnsafeBufferPointer(rebasing: bytes[start..<end])) else { throw fail("invalid UTF-8 in string") }
            return s
        }
        out.append(contentsOf: bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b < 0x20 { throw fail("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                guard let decoded = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                out.append(contentsOf: Array(String(Character(decoded)).utf8))
            default:
                throw fail("invalid escape")
            }
        }
        guard let s = out.withUnsafeBufferPointer({ Self.utf8String($0) }) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    /// The string these bytes encode; nil when they are not valid UTF-8. ASCII (the usual
    /// case) is valid by construction and skips the validation.
    private static func utf8String(_ buf: UnsafeBufferPointer<UInt8>) -> String? {
        buf.allSatisfy({ $0 < 0x80 }) ? String(decoding: buf, as: UTF8.self) : String(validating: buf, as: UTF8.self)
    }

    private mutating func hex4() throws(Error) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

/// `a == b` for object keys, with the lengths compared first: field names mostly differ in
/// length, and `==` of two different short strings takes the standard library's slow path
/// (about 60 instructions each; issue 17).
@inline(__always)
func sameKey(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a == b
}
