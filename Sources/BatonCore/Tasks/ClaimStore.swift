/// The arbiter of task claims. Each method is one atomic step in the store.
public protocol ClaimStore: Sendable {
    /// Claims `request.task` for a new run `runId` unless it is held, recently completed,
    /// or its slot is done. The new claim's fencing token is above `guardrails.floor` and
    /// every token handed out before. A running claim written by an earlier server is void
    /// and waits out the windows, as for leases (see ``LeaseStore``).
    func claim(_ request: ClaimRequest, runId: String, guardrails: () -> Guardrails) throws(BackendError) -> ClaimResult
    /// Pushes the running claim's expiry to `lockAtMostMs` from now.
    func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int,
                guardrails: () -> Guardrails) throws(BackendError) -> ExtendResult
    /// Marks the run finished: keeps the claim until `lock_at_least` has passed and, unless
    /// the run was cancelled, marks its slot done.
    func complete(_ task: TaskName, runId: String, holder: Holder, status: RunStatus) throws(BackendError) -> CompleteResult
    /// The current claim, or nil.
    func claim(of task: TaskName) throws(BackendError) -> TaskClaim?
    /// Every task that has ever been claimed (still known to the store).
    func knownTasks() throws(BackendError) -> [TaskName]
    /// Deletes the running claim of run `runId` (and its slot mark) if it is still the
    /// current one: for a claim nobody was told of. Whether it did.
    func void(_ task: TaskName, runId: String) throws(BackendError) -> Bool
    /// Which part of the store `task` lives on (see ``LeaseStore/failureDomain(of:)``).
    func failureDomain(of task: TaskName) -> String?
}

extension ClaimStore {
    public func failureDomain(of task: TaskName) -> String? { nil }

    /// Stores that cannot leave an untold claim behind have nothing to void.
    public func void(_ task: TaskName, runId: String) throws(BackendError) -> Bool { false }
}

public enum ClaimResult: Sendable, Equatable {
    case claimed(TaskClaim)
    case refused(ClaimRefusal, current: TaskClaim?)
    /// The store lost this task's data; no new claim for `retryAfterMs`.
    case recovering(retryAfterMs: Int)
}

public enum ExtendResult: Sendable, Equatable {
    case extended(TaskClaim)
    /// The run no longer holds the claim; the current claim (if any) is attached.
    case lost(TaskClaim?)
}

public enum CompleteResult: Sendable, Equatable {
    /// Recorded in time; the claim as it was (now completed).
    case completed(TaskClaim)
    /// The claim had expired or been taken over; `current` is whatever holds the task now.
    case late(current: TaskClaim?)
}
