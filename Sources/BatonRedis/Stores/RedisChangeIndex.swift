public import BatonCore

/// The change index of leases and tasks, read by one script each (see ``FencingLua``);
/// on the calling thread's connection (under Cluster, the node owning the key's slot), like the stores.
public struct RedisChangeIndex: ChangeIndexStore {
    public let redis: PerThreadRedis

    public init(redis: PerThreadRedis) { self.redis = redis }

    public func index(of lease: LeaseName, renewals: Bool) throws(BackendError) -> Int64 {
        try read(LeaseScripts.index, [RedisKeys.lease(lease), RedisKeys.leaseMeta(lease)], extra: renewals ? ["1"] : ["0"])
    }

    public func index(of task: TaskName) throws(BackendError) -> Int64 {
        try read(TaskScripts.index, [RedisKeys.claim(task), RedisKeys.taskMeta(task)])
    }

    private func read(_ script: LuaScript, _ keys: [String], extra: [String] = []) throws(BackendError) -> Int64 {
        let reply = try script.run(on: redis.route(forKey: keys[0]), keys: keys) { command, runId in
            command.append(runId)
            for a in extra { command.append(a) }
        }
        guard let i = reply.integer else { throw BackendError(.protocolError, "script \(script.name): unexpected reply") }
        return i
    }
}

extension RedisKeys {
    /// The channel the scripts publish changed keys on.
    static let changesChannel = "baton:changes"

    /// What a changed or expired key means to watchers: a lease's or a task's claim key;
    /// nil for every other key (meta hashes, slot markers, keys of other applications).
    static func watchKey(of key: String) -> WatchKey? {
        guard let name = tag(of: key) else { return nil }
        if key == "baton:lease:{\(name)}" { return LeaseName(name).map(WatchKey.lease) }
        if key == "baton:task:{\(name)}:claim" { return TaskName(name).map(WatchKey.task) }
        return nil
    }

    /// `late|<claim key>|<run id>|<holder>|<status>`, as the complete script publishes a late
    /// completion; nil for anything else (names and statuses are checked again here).
    static func lateCompletion(_ message: String) -> LateCompletion? {
        let parts = message.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "late", case .task(let task)? = watchKey(of: String(parts[1])),
              parts[2].utf8.count <= 64, let holder = Holder(String(parts[3])), let status = RunStatus(rawValue: String(parts[4]))
        else { return nil }
        return LateCompletion(task: task, runId: String(parts[2]), holder: holder, status: status)
    }
}
