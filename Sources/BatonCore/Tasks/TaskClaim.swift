/// A claim on a scheduled task: who runs it now (or ran it last, for `lock_at_least`).
public struct TaskClaim: Sendable, Equatable {
    public enum State: String, Sendable {
        /// The holder is running the task.
        case running
        /// The run finished; the claim stays until `lock_at_least` has passed.
        case completed
    }

    public let task: TaskName
    public let runId: String
    public let holder: Holder
    public let slot: Slot?
    public let fencingToken: FencingToken
    public let claimedAtMs: Int64
    public let lockAtMostMs: Int
    public let lockAtLeastMs: Int
    public let expiresInMs: Int
    public let state: State

    public init(task: TaskName, runId: String, holder: Holder, slot: Slot?, fencingToken: FencingToken,
                claimedAtMs: Int64, lockAtMostMs: Int, lockAtLeastMs: Int, expiresInMs: Int, state: State) {
        self.task = task
        self.runId = runId
        self.holder = holder
        self.slot = slot
        self.fencingToken = fencingToken
        self.claimedAtMs = claimedAtMs
        self.lockAtMostMs = lockAtMostMs
        self.lockAtLeastMs = lockAtLeastMs
        self.expiresInMs = expiresInMs
        self.state = state
    }
}

/// What a caller asks for when it claims a task.
public struct ClaimRequest: Sendable {
    public let task: TaskName
    public let holder: Holder
    public let slot: Slot?
    public let lockAtMostMs: Int
    public let lockAtLeastMs: Int
    public init(task: TaskName, holder: Holder, slot: Slot?, lockAtMostMs: Int, lockAtLeastMs: Int) {
        self.task = task
        self.holder = holder
        self.slot = slot
        self.lockAtMostMs = lockAtMostMs
        self.lockAtLeastMs = lockAtLeastMs
    }
}

/// Why a claim was refused (the `reason` of a 409).
public enum ClaimRefusal: String, Sendable {
    /// Another run holds the task now.
    case held
    /// A run of this slot already completed.
    case slotDone = "slot_done"
    /// A run finished less than `lock_at_least` ago.
    case recentlyCompleted = "recently_completed"
    /// Redis lost the task's data; claims resume once any earlier claim has run out.
    case recovering
}
