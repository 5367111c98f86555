/// A validated identifier: lease and task names, and holders.
///
/// The character sets are deliberately small so a name is safe in a Redis key, a
/// Prometheus label, a log line and a URL path without escaping.
public struct NameRule: Sendable {
    /// Bytes allowed after the first one (the first must be alphanumeric), as a bit set of
    /// the 128 ASCII values: a `Set<UInt8>` hashed every `-` and `.` of every name, three
    /// names per `POST /leader` (about 1,000 instructions a request, issue 17).
    let extra: (low: UInt64, high: UInt64)
    /// The longest accepted value, in bytes.
    public let maxLength: Int

    init(extra: String, maxLength: Int) {
        var bits: (low: UInt64, high: UInt64) = (0, 0)
        for b in extra.utf8 {
            precondition(b < 0x80, "a name rule allows ASCII only")
            if b < 64 { bits.low |= 1 << b } else { bits.high |= 1 << (b - 64) }
        }
        self.extra = bits
        self.maxLength = maxLength
    }

    /// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`
    public static let resource = NameRule(extra: "._:-", maxLength: 128)
    /// `^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$`
    public static let holder = NameRule(extra: "._:@/-", maxLength: 253)

    /// Whether `value` matches the rule.
    public func accepts(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard !bytes.isEmpty, bytes.count <= maxLength, Self.isAlphanumeric(bytes[0]) else { return false }
            for b in bytes.dropFirst() where !Self.isAlphanumeric(b) && !isExtra(b) { return false }
            return true
        }
    }

    private func isExtra(_ b: UInt8) -> Bool {
        b < 64 ? extra.low & (1 << b) != 0 : b < 128 && extra.high & (1 << (b - 64)) != 0
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// The rule as a regular expression, for error messages and the OpenAPI spec.
    public var pattern: String {
        self.maxLength == 128 ? "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$" : "^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$"
    }
}
