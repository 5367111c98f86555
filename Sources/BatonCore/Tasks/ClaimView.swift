/// A task claim as the API shows it: the caller's new claim, or the claim that
/// stands in its way.
public struct ClaimView: Sendable, Equatable {
    public let task: TaskName
    /// Whether the caller got the claim (for extend: still holds it).
    public let claimed: Bool
    /// Why not, when `claimed` is false.
    public let reason: ClaimRefusal?
    public let runId: String?
    public let holder: Holder?
    public let slot: Slot?
    public let fencingToken: FencingToken?
    public let claimedAtMs: Int64?
    public let lockAtMostMs: Int?
    public let lockAtLeastMs: Int?
    public let expiresInMs: Int?
    public let state: TaskClaim.State?
    public let mode: Mode

    public init(task: TaskName, claimed: Bool, reason: ClaimRefusal? = nil, claim: TaskClaim?) {
        self.task = task
        self.claimed = claimed
        self.reason = reason
        self.runId = claim?.runId
        self.holder = claim?.holder
        self.slot = claim?.slot
        self.fencingToken = claim?.fencingToken
        self.claimedAtMs = claim?.claimedAtMs
        self.lockAtMostMs = claim?.lockAtMostMs
        self.lockAtLeastMs = claim?.lockAtLeastMs
        self.expiresInMs = claim?.expiresInMs
        self.state = claim?.state
        self.mode = .normal
    }

    /// A claim granted by the breaker's fallback: no fencing token, recorded as degraded.
    public init(degraded request: ClaimRequest, runId: String, nowMs: Int64) {
        self.task = request.task
        self.claimed = true
        self.reason = nil
        self.runId = runId
        self.holder = request.holder
        self.slot = request.slot
        self.fencingToken = nil
        self.claimedAtMs = nowMs
        self.lockAtMostMs = request.lockAtMostMs
        self.lockAtLeastMs = request.lockAtLeastMs
        self.expiresInMs = request.lockAtMostMs
        self.state = .running
        self.mode = .degraded
    }

    /// An extension granted by the breaker's fallback.
    public init(degradedExtend task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int) {
        self.task = task
        self.claimed = true
        self.reason = nil
        self.runId = runId
        self.holder = holder
        self.slot = nil
        self.fencingToken = nil
        self.claimedAtMs = nil
        self.lockAtMostMs = lockAtMostMs
        self.lockAtLeastMs = nil
        self.expiresInMs = lockAtMostMs
        self.state = .running
        self.mode = .degraded
    }
}

/// The answer to `POST /tasks/complete`.
public struct CompletionView: Sendable, Equatable {
    public let task: TaskName
    public let runId: String
    public let status: RunStatus
    /// The run was recorded in history (always true: a late completion is recorded too).
    public let recorded: Bool
    /// The claim had expired or been taken over before the completion arrived.
    public let late: Bool
    /// Whoever holds the task now, for a late completion.
    public let current: ClaimView?
    public let mode: Mode
}
