import BatonCore

/// Key names. Each lease's and task's keys share a hash tag so its scripts run on one
/// Redis Cluster node.
enum RedisKeys {
    static func lease(_ l: LeaseName) -> String { key("baton:lease:{", l.value, "}") }
    static func leaseMeta(_ l: LeaseName) -> String { key("baton:lease:{", l.value, "}:meta") }
    static func claim(_ t: TaskName) -> String { key("baton:task:{", t.value, "}:claim") }
    static func taskMeta(_ t: TaskName) -> String { key("baton:task:{", t.value, "}:meta") }
    static func slot(_ t: TaskName, _ s: Slot) -> String { "baton:task:{\(t.value)}:slot:\(s.value)" }
    static let leaseMetaPattern = "baton:lease:{*}:meta"
    static let taskMetaPattern = "baton:task:{*}:meta"

    /// A lease's two keys appended to a command as they are spelled above, without making
    /// their `String`s (two heap strings per `POST /leader`: about 1,100 instructions,
    /// callgrind, issue 17). `RedisKeysTests` checks both spellings agree.
    static func appendLeaseKeys(_ l: LeaseName, to command: inout RedisCommand) {
        command.append("baton:lease:{", l.value, "}")
        command.append("baton:lease:{", l.value, "}:meta")
    }

    /// `prefix`, `name`, `suffix` in one allocation: string interpolation cost about 1,600
    /// instructions per key, and a `POST /leader` built four (callgrind, issue 17).
    private static func key(_ prefix: StaticString, _ name: String, _ suffix: StaticString) -> String {
        var name = name
        return name.withUTF8 { n in
            let p = prefix.utf8CodeUnitCount, s = suffix.utf8CodeUnitCount
            return String(unsafeUninitializedCapacity: p + n.count + s) { out in
                let base = out.baseAddress!
                base.update(from: prefix.utf8Start, count: p)
                if let start = n.baseAddress { (base + p).update(from: start, count: n.count) }
                (base + p + n.count).update(from: suffix.utf8Start, count: s)
                return p + n.count + s
            }
        }
    }

    /// The name inside the hash tag of `key`.
    static func tag(of key: String) -> String? {
        guard let open = key.firstIndex(of: "{"), let close = key[open...].firstIndex(of: "}") else { return nil }
        return String(key[key.index(after: open)..<close])
    }
}
