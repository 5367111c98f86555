/// A task's shared schedule: the triggers every replica fires it by, kept durably in
/// Baton so that removing them from a replica (to stop it running the task by itself)
/// loses nothing, and `batonctl jellyfin restore` can put them back.
///
/// Trigger kinds are Jellyfin's (MediaBrowser.Model/Tasks/TaskTriggerInfo.cs, v10.11.11),
/// with durations in milliseconds as everywhere in Baton's API (1 Jellyfin tick = 100 ns).
public struct ScheduleTrigger: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case interval, daily, weekly, startup
    }

    public let kind: Kind
    /// Interval triggers: time between the end of one run and the next (required, > 0).
    public let intervalMs: Int64?
    /// Daily and weekly triggers: time after local midnight (required, < 24 h).
    public let timeOfDayMs: Int64?
    /// Weekly triggers: Sunday ... Saturday, as .NET's DayOfWeek names them.
    public let dayOfWeek: DayOfWeek?
    /// Cancel a run this trigger started after this long (TaskOptions.MaxRuntimeTicks).
    public let maxRuntimeMs: Int64?

    public init(kind: Kind, intervalMs: Int64? = nil, timeOfDayMs: Int64? = nil, dayOfWeek: DayOfWeek? = nil, maxRuntimeMs: Int64? = nil) {
        self.kind = kind
        self.intervalMs = intervalMs
        self.timeOfDayMs = timeOfDayMs
        self.dayOfWeek = dayOfWeek
        self.maxRuntimeMs = maxRuntimeMs
    }
}

/// .NET's System.DayOfWeek, by name.
public enum DayOfWeek: String, Sendable, CaseIterable {
    case Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday
}

/// A saved schedule and where it came from.
public struct Schedule: Sendable, Equatable {
    public let task: TaskName
    public let triggers: [ScheduleTrigger]
    /// 1 for the first save; grows by one with every change.
    public let revision: Int
    /// When the task's schedule was first saved (an Interval task that never ran fires
    /// relative to this, the same instant on every replica).
    public let firstSavedAtMs: Int64
    public let savedAtMs: Int64
    public let savedBy: Holder
    /// Free text from the saver, e.g. "adopted a dashboard edit on pod-a".
    public let note: String?

    public init(task: TaskName, triggers: [ScheduleTrigger], revision: Int, firstSavedAtMs: Int64, savedAtMs: Int64,
                savedBy: Holder, note: String?) {
        self.task = task
        self.triggers = triggers
        self.revision = revision
        self.firstSavedAtMs = firstSavedAtMs
        self.savedAtMs = savedAtMs
        self.savedBy = savedBy
        self.note = note
    }
}

/// What a save did.
public enum ScheduleSave: Sendable, Equatable {
    /// The first schedule of this task.
    case created(Schedule)
    /// The triggers differed: a new revision (the old one stays in the history).
    case changed(Schedule)
    /// The same triggers as saved: nothing written.
    case unchanged(Schedule)

    public var schedule: Schedule {
        switch self {
        case .created(let s), .changed(let s), .unchanged(let s): return s
        }
    }
}

/// Durable schedules (PostgreSQL in batond). Every call is synchronous and may fail with
/// the backend's error: a schedule is either saved durably or the caller hears it was not.
public protocol ScheduleStore: Sendable {
    func all() throws(BackendError) -> [Schedule]
    func schedule(of task: TaskName) throws(BackendError) -> Schedule?
    /// Saves `triggers` (never empty: the caller checks) as the task's schedule.
    func save(_ task: TaskName, triggers: [ScheduleTrigger], by holder: Holder, note: String?, atMs: Int64) throws(BackendError) -> ScheduleSave
    /// Every revision, newest first.
    func revisions(of task: TaskName, limit: Int) throws(BackendError) -> [Schedule]
}
