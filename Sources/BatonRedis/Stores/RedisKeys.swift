import BatonCore

/// Key names. Each lease's and task's keys share a hash tag so its scripts run on one
/// Redis Cluster node.
enum RedisKeys {
    static func lease(_ l: LeaseName) -> String { "baton:lease:{\(l.value)}" }
    static func leaseMeta(_ l: LeaseName) -> String { "baton:lease:{\(l.value)}:meta" }
    static func claim(_ t: TaskName) -> String { "baton:task:{\(t.value)}:claim" }
    static func taskMeta(_ t: TaskName) -> String { "baton:task:{\(t.value)}:meta" }
    static func slot(_ t: TaskName, _ s: Slot) -> String { "baton:task:{\(t.value)}:slot:\(s.value)" }
    static let leaseMetaPattern = "baton:lease:{*}:meta"
    static let taskMetaPattern = "baton:task:{*}:meta"

    /// The name inside the hash tag of `key`.
    static func tag(of key: String) -> String? {
        guard let open = key.firstIndex(of: "{"), let close = key[open...].firstIndex(of: "}") else { return nil }
        return String(key[key.index(after: open)..<close])
    }
}
