/// How often a schedule fires at most, for alerts ("a slot passed without a claim").
///
/// Jellyfin's triggers (Emby.Server.Implementations/ScheduledTasks/Triggers, v10.11.11):
/// an IntervalTrigger fires `interval` after the last run, a DailyTrigger once a day, a
/// WeeklyTrigger once a week, a StartupTrigger only when the server starts, which has
/// no period at all.
extension ScheduleTrigger {
    public static let dayMs: Int64 = 86_400_000
    public static let weekMs: Int64 = 7 * dayMs

    /// The longest this trigger lets pass between two fires; nil for a startup trigger.
    public var periodMs: Int64? {
        switch kind {
        case .interval: return intervalMs
        case .daily: return Self.dayMs
        case .weekly: return Self.weekMs
        case .startup: return nil
        }
    }
}

extension Schedule {
    /// The shortest period among the triggers: with several, the task is due as soon as
    /// the most frequent one fires. Nil when only startup triggers are left (the task is
    /// never due by the clock).
    public var periodMs: Int64? {
        triggers.compactMap(\.periodMs).min()
    }
}
