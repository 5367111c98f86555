/// A tenure as written to the durable history.
public struct TenureRecord: Sendable, Equatable {
    public let lease: LeaseName
    public let holder: Holder
    public let fencingToken: FencingToken
    public let acquiredAtMs: Int64
    public let ttlMs: Int

    public init(lease: LeaseName, tenure: Tenure) {
        self.lease = lease
        self.holder = tenure.holder
        self.fencingToken = tenure.fencingToken
        self.acquiredAtMs = tenure.acquiredAtMs
        self.ttlMs = tenure.ttlMs
    }

    public init(lease: LeaseName, holder: Holder, fencingToken: FencingToken, acquiredAtMs: Int64, ttlMs: Int) {
        self.lease = lease
        self.holder = holder
        self.fencingToken = fencingToken
        self.acquiredAtMs = acquiredAtMs
        self.ttlMs = ttlMs
    }
}

/// Why a tenure ended.
public enum TenureEnd: String, Sendable {
    /// The holder released it.
    case released
    /// It ran out and a later tenure began.
    case expired
}

/// How a task run ended.
public enum RunStatus: String, Sendable, CaseIterable {
    case running, succeeded, failed, cancelled
}

/// One run of a scheduled task, as written to and read from the durable history.
public struct RunRecord: Sendable, Equatable {
    public let runId: String
    public let task: TaskName
    public let slot: Slot?
    public let holder: Holder
    public let fencingToken: FencingToken?
    /// Nil only for a completion whose claim the store no longer knows (a late one).
    public let claimedAtMs: Int64?
    /// How long after `claimedAtMs` the claim may last (its lock_at_most, pushed on by
    /// extensions), so a restarted Baton knows how long claims may be believed live.
    public let lockAtMostMs: Int?
    public var finishedAtMs: Int64?
    public var status: RunStatus
    public var detail: String?
    public let mode: Mode
    /// The completion arrived after the claim had expired or been taken over.
    public var late: Bool
    /// A run that started without a claim (Jellyfin ran it by itself: its dashboard's Run
    /// button, a library change) and was reported afterwards, so the history is complete.
    public var external: Bool

    public init(runId: String, task: TaskName, slot: Slot?, holder: Holder, fencingToken: FencingToken?,
                claimedAtMs: Int64?, lockAtMostMs: Int? = nil, finishedAtMs: Int64? = nil, status: RunStatus = .running,
                detail: String? = nil, mode: Mode, late: Bool = false, external: Bool = false) {
        self.runId = runId
        self.task = task
        self.slot = slot
        self.holder = holder
        self.fencingToken = fencingToken
        self.claimedAtMs = claimedAtMs
        self.lockAtMostMs = lockAtMostMs
        self.finishedAtMs = finishedAtMs
        self.status = status
        self.detail = detail
        self.mode = mode
        self.late = late
        self.external = external
    }
}

/// One fact for the durable history. Writers apply events idempotently (upserts keyed by
/// lease and fencing token, or by run id), so an event retried from the outbox is
/// written exactly once.
public enum HistoryEvent: Sendable, Equatable {
    case tenureStarted(TenureRecord)
    case tenureEnded(TenureRecord, endedAtMs: Int64, reason: TenureEnd)
    /// A run began (status running) or finished (any other status). Writers merge the two
    /// by run id whatever order they arrive in (a claim and its completion may go through
    /// different Baton replicas): claim fields fill gaps, a finish is never undone.
    case run(RunRecord)
}

/// Takes history events from request handlers; never blocks them on the database.
public protocol HistoryRecorder: Sendable {
    func record(_ event: HistoryEvent)
}

/// Writes history events durably. Called from the outbox's writer, never from a request.
public protocol HistoryStore: Sendable {
    /// Applies the events in order, all or nothing.
    func write(_ events: [HistoryEvent]) throws(BackendError)
}

/// Reads history for the incident endpoints.
public protocol HistoryReader: Sendable {
    func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord]
    func lastRuns() throws(BackendError) -> [TaskName: RunRecord]
    func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry]
    /// The highest fencing token and the longest TTL (lock_at_most for tasks) ever recorded.
    func guardrails(for resource: Resource) throws(BackendError) -> Guardrails
    /// The run that completed `slot` of `task` (succeeded or failed), if the history has one.
    func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String?
}

/// A tenure read back from history.
public struct TenureHistoryEntry: Sendable, Equatable {
    public let record: TenureRecord
    public let endedAtMs: Int64?
    public let endReason: TenureEnd?
    public init(record: TenureRecord, endedAtMs: Int64?, endReason: TenureEnd?) {
        self.record = record
        self.endedAtMs = endedAtMs
        self.endReason = endReason
    }
}
