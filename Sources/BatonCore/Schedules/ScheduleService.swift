/// The shared schedules, each call behind the PostgreSQL circuit breaker (as
/// ``HistoryService`` is for the history): `/schedules` decodes, calls one method, encodes.
public struct ScheduleService: Sendable {
    public let store: any ScheduleStore
    public let breaker: CircuitBreaker

    public init(store: any ScheduleStore, breaker: CircuitBreaker) {
        self.store = store
        self.breaker = breaker
    }

    /// Every task's current schedule.
    public func all() -> DurableRead<[Schedule]> {
        breaker.durableRead { () throws(BackendError) in try store.all() }
    }

    /// The task's current schedule, nil if none was ever saved.
    public func schedule(of task: TaskName) -> DurableRead<Schedule?> {
        breaker.durableRead { () throws(BackendError) in try store.schedule(of: task) }
    }

    /// Saves `triggers` (never empty: the caller checks) as the task's schedule.
    public func save(_ task: TaskName, triggers: [ScheduleTrigger], by holder: Holder, note: String?, atMs: Int64) -> DurableRead<ScheduleSave> {
        breaker.durableRead { () throws(BackendError) in try store.save(task, triggers: triggers, by: holder, note: note, atMs: atMs) }
    }

    /// Every revision of the task's schedule, newest first.
    public func revisions(of task: TaskName, limit: Int) -> DurableRead<[Schedule]> {
        breaker.durableRead { () throws(BackendError) in try store.revisions(of: task, limit: limit) }
    }
}
