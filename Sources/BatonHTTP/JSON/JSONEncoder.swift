import BatonSupport

extension JSONValue {
    /// Compact JSON text.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)  // every answer on the hot path fits: one allocation
        write(into: &out)
        return out
    }

    /// Compact JSON text as a String.
    public var text: String { String(decoding: encoded(), as: UTF8.self) }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: JSONValue.append("null", to: &out)
        case .bool(let b): JSONValue.append(b ? "true" : "false", to: &out)
        case .int(let v): JSONValue.writeInt(v, into: &out)
        case .double(let d): out.append(contentsOf: Array((d.isFinite ? "\(d)" : "null").utf8))
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (n, (k, v)) in pairs.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends a literal's bytes without allocating (for writers of fixed-shape answers:
    /// the literal must be valid JSON text where it goes).
    public static func append(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Decimal digits of `v`, as `String(v)` writes them, without allocating.
    public static func writeInt(_ v: Int64, into out: inout [UInt8]) {
        DecimalDigits.append(v, to: &out)
    }

    /// `s` as a JSON string, quoted and escaped.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            // Runs of bytes that need no escape are copied at once.
            var runStart = 0
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                guard b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F else { continue }
                if runStart < i - 1 { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<(i - 1)])) }
                runStart = i
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.append(0x22)
    }
}
