/// A validated identifier: lease and task names, and holders.
///
/// The character sets are deliberately small so a name is safe in a Redis key, a
/// Prometheus label, a log line and a URL path without escaping.
public struct NameRule: Sendable {
    /// Characters allowed after the first one (the first must be alphanumeric).
    let extra: Set<UInt8>
    let maxLength: Int

    /// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`
    public static let resource = NameRule(extra: Set(Array("._:-".utf8)), maxLength: 128)
    /// `^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$`
    public static let holder = NameRule(extra: Set(Array("._:@/-".utf8)), maxLength: 253)

    /// Whether `value` matches the rule.
    public func accepts(_ value: String) -> Bool {
        var count = 0
        for byte in value.utf8 {
            count += 1
            if count > maxLength { return false }
            if Self.isAlphanumeric(byte) { continue }
            if count == 1 || !extra.contains(byte) { return false }
        }
        return count > 0
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// The rule as a regular expression, for error messages and the OpenAPI spec.
    public var pattern: String {
        self.maxLength == 128 ? "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$" : "^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$"
    }
}

/// The name of a lease (for example `jellyfin-scheduler`).
public struct LeaseName: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    /// Returns nil when `value` does not match ``NameRule/resource``.
    public init?(_ value: String) {
        guard NameRule.resource.accepts(value) else { return nil }
        self.value = value
    }
    public var description: String { value }
}

/// The name of a scheduled task (for example `RefreshLibrary`).
public struct TaskName: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    /// Returns nil when `value` does not match ``NameRule/resource``.
    public init?(_ value: String) {
        guard NameRule.resource.accepts(value) else { return nil }
        self.value = value
    }
    public var description: String { value }
}

/// Who holds a lease or runs a task: usually the pod name.
public struct Holder: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    /// Returns nil when `value` does not match ``NameRule/holder``.
    public init?(_ value: String) {
        guard NameRule.holder.accepts(value) else { return nil }
        self.value = value
    }
    public var description: String { value }
}

/// A schedule slot, typically the fire time of a schedule: at most one completed run
/// per task and slot. Any non-empty string up to 128 bytes without control characters.
public struct Slot: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public static let maxLength = 128
    public init?(_ value: String) {
        guard !value.isEmpty, value.utf8.count <= Self.maxLength,
              !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        self.value = value
    }
    public var description: String { value }
}
