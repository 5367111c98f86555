/// Each lease's and task's change index, kept by the store next to the resource: it grows
/// with every change a watcher waits for (a tenure or claim begins or ends, a run
/// completes, a tenure or claim expires) and never with a renewal or an extension.
///
/// Replicas read the same number (it lives in the store, not in a process), so a client
/// may send the index one replica gave it to another.
public protocol ChangeIndexStore: Sendable {
    /// With `renewals`, the index plus the lease's renewals: a number of its own, for
    /// watchers that want to hear of each renewal too (`?renewals=true`).
    func index(of lease: LeaseName, renewals: Bool) throws(BackendError) -> Int64
    func index(of task: TaskName) throws(BackendError) -> Int64
}

/// Told by the change feed (one subscription to the store per process) what changed.
/// Called on the feed's own thread; implementations return quickly.
public protocol ChangeListener: Sendable {
    /// A resource changed (a script published it, or its key expired in the store).
    func changed(_ key: WatchKey)
    /// The feed is up. `expiryEvents`: the store reports expired keys itself; when false,
    /// watchers re-read when the tenure or claim they see is due to expire.
    func feedUp(expiryEvents: Bool)
    /// The feed was lost (the store is unreachable or failed over): every wait must end now,
    /// and none may start until ``feedUp(expiryEvents:)``.
    func feedDown(_ reason: String)
    /// A run was completed after its claim had ended (`late: true`): nothing changed in the
    /// store, the run goes to history only, but `/events` says so (`late_completion`).
    func lateCompletion(_ late: LateCompletion)
}

extension ChangeListener {
    public func lateCompletion(_ late: LateCompletion) {}
}

/// What the complete script publishes for a late completion.
public struct LateCompletion: Sendable, Equatable {
    public let task: TaskName
    public let runId: String
    public let holder: Holder
    public let status: RunStatus

    public init(task: TaskName, runId: String, holder: Holder, status: RunStatus) {
        self.task = task
        self.runId = runId
        self.holder = holder
        self.status = status
    }
}
