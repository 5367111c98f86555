/// Every task Baton knows, from Redis (current claims) and from the history (last runs),
/// merged by name: what `GET /tasks` shows. The claims are required (without Redis there
/// is no overview, 503); the history is optional, so the claims still show while
/// PostgreSQL is down, with ``historyAvailable`` false.
public struct TaskOverview: Sendable {
    /// One task: its claim (nil when free) and its last run (nil when none, or no history).
    public struct Entry: Sendable {
        public let task: TaskName
        public let claim: TaskClaim?
        public let lastRun: RunRecord?
    }

    /// Sorted by task name.
    public let entries: [Entry]
    /// Whether the last runs could be read.
    public let historyAvailable: Bool

    /// The merge: a task known only to the history shows with no claim; one known only
    /// to Redis with no last run.
    public init(claims: [(TaskName, TaskClaim?)], lastRuns: [TaskName: RunRecord]?) {
        var byName: [TaskName: TaskClaim?] = [:]
        for (task, claim) in claims { byName[task] = claim }
        for task in lastRuns?.keys ?? [:].keys where byName[task] == nil { byName[task] = .some(nil) }
        entries = byName.keys.sorted { $0.value < $1.value }.map { task in
            Entry(task: task, claim: byName[task] ?? nil, lastRun: lastRuns?[task])
        }
        historyAvailable = lastRuns != nil
    }
}

extension TaskCoordinator {
    /// The overview of every task: the claims through this coordinator's Redis rule (its
    /// breaker and policy), the last runs through `history`.
    public func overview(history: HistoryService) -> Decision<TaskOverview> {
        let claims: [(TaskName, TaskClaim?)]
        switch all() {
        case .ok(let list), .conflict(let list), .recovering(let list, _): claims = list
        case .unavailable(let error, let retry): return .unavailable(error, retryAfterMs: retry)
        }
        return .ok(TaskOverview(claims: claims, lastRuns: history.lastRuns()))
    }
}
