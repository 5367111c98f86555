/// Reads of the durable history, each behind the PostgreSQL circuit breaker: the routes
/// ask for tenures or runs and get the rows or "unavailable, retry after", never a
/// breaker to drive themselves.
public struct HistoryService: Sendable {
    /// What a history read gave (see ``DurableRead``).
    public typealias Read = DurableRead

    public let reader: any HistoryReader
    public let breaker: CircuitBreaker

    public init(reader: any HistoryReader, breaker: CircuitBreaker) {
        self.reader = reader
        self.breaker = breaker
    }

    /// Tenures of `lease`, newest first.
    public func tenures(of lease: LeaseName, limit: Int) -> Read<[TenureHistoryEntry]> {
        read { () throws(BackendError) in try reader.tenures(of: lease, limit: limit) }
    }

    /// Runs of `task`, newest first.
    public func runs(of task: TaskName, limit: Int) -> Read<[RunRecord]> {
        read { () throws(BackendError) in try reader.runs(of: task, limit: limit) }
    }

    /// The last run of every task in the history.
    public func lastRunsRead() -> Read<[TaskName: RunRecord]> {
        read { () throws(BackendError) in try reader.lastRuns() }
    }

    /// The last run of every task in the history, or nil when PostgreSQL cannot say.
    public func lastRuns() -> [TaskName: RunRecord]? {
        if case .ok(let runs) = lastRunsRead() { return runs }
        return nil
    }

    private func read<V>(_ body: () throws(BackendError) -> V) -> Read<V> { breaker.durableRead(body) }
}
