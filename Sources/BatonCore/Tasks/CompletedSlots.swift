/// Durable knowledge of which schedule slots already ran. Redis keeps a marker per
/// completed slot, but a Redis that forgot its data (or a lagging replica) no longer has
/// it; the history does.
public protocol CompletedSlots: Sendable {
    /// The run that completed `slot` of `task`, nil when none is known or the answer is
    /// not available now (then Redis alone decides).
    func completedRun(of task: TaskName, slot: Slot) -> String?
}

/// Redis alone decides.
public struct NoCompletedSlots: CompletedSlots {
    public init() {}
    public func completedRun(of task: TaskName, slot: Slot) -> String? { nil }
}

/// Completed slots from the durable history, through the PostgreSQL breaker, so a database
/// that is down costs nothing but the check.
public struct HistorySlots: CompletedSlots {
    public let history: any HistoryReader
    public let breaker: CircuitBreaker

    public init(history: any HistoryReader, breaker: CircuitBreaker) {
        self.history = history
        self.breaker = breaker
    }

    public func completedRun(of task: TaskName, slot: Slot) -> String? {
        if case .success(let run) = breaker.run({ () throws(BackendError) in try history.completedRun(of: task, slot: slot) }) {
            return run
        }
        return nil
    }
}
