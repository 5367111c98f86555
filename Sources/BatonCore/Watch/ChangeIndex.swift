/// Each lease's and task's change index, kept by the store next to the resource: it grows
/// with every change a watcher waits for (a tenure or claim begins or ends, a run
/// completes, a tenure or claim expires) and never with a renewal or an extension.
///
/// Replicas read the same number (it lives in the store, not in a process), so a client
/// may send the index one replica gave it to another.
public protocol ChangeIndexStore: Sendable {
    func index(of lease: LeaseName) throws(BackendError) -> Int64
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
}
