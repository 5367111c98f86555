import BatonSupport

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
