import BatonCore
import BatonSupport
import Synchronization

/// `baton_schedule_period_seconds{task}` and `baton_schedule_first_saved_timestamp_seconds{task}`,
/// from the saved schedules (``ScheduleStore``: PostgreSQL, what `batonctl jellyfin schedule`
/// stores), so the "slot missed" alert follows the schedule the sidecars fire by instead of
/// a copy of it in the rules.
///
/// Only tasks with a period are exported (startup-only schedules are never due by the
/// clock), at most ``maxTasks`` of them in task-name order: task names are chosen by
/// clients, and a period has no meaningful `_other` aggregate, so later ones are left out.
///
/// Read at scrape time through ``ScheduleService`` (behind the PostgreSQL breaker), at most
/// once per ``freshMs`` (every replica is scraped by every Prometheus; two queries each time
/// buy nothing). When a read
/// fails or the breaker is open, the last good read is served while it is younger than
/// ``staleMs``, so a short PostgreSQL outage does not resolve and re-fire the slot alert;
/// after that the series are absent (BatonPostgresBreakerOpen says why). `/metrics` itself
/// never fails for it.
public final class ScheduleMetrics: Sendable {
    public static let maxTasks = 200

    struct Entry: Sendable, Equatable {
        let task: String
        let periodSeconds: Double
        let firstSavedSeconds: Double
    }

    private struct Read {
        let atMonotonicMs: Int64
        let entries: [Entry]
    }

    public let freshMs: Int64
    public let staleMs: Int64
    private let last = Mutex<Read?>(nil)

    public init(freshMs: Int64 = 15_000, staleMs: Int64 = 600_000) {
        self.freshMs = freshMs
        self.staleMs = staleMs
    }

    /// The exported entries of `schedules`: those with a period, capped, by task name.
    static func entries(_ schedules: [Schedule]) -> [Entry] {
        let due = schedules.compactMap { s in
            s.periodMs.map { Entry(task: s.task.value, periodSeconds: Double($0) / 1_000, firstSavedSeconds: Double(s.firstSavedAtMs) / 1_000) }
        }
        return Array(due.sorted { $0.task < $1.task }.prefix(maxTasks))
    }

    /// The entries to render now: a fresh cached read, a new read, or a stale one (see the type's doc).
    func current(_ service: ScheduleService?, clock: any Clock) -> [Entry]? {
        guard let service else { return nil }
        let now = clock.monotonicMs()
        let cached = last.withLock { $0 }
        if let cached, now - cached.atMonotonicMs < freshMs { return cached.entries }
        if case .ok(let schedules) = service.all() {
            let read = Read(atMonotonicMs: now, entries: Self.entries(schedules))
            last.withLock { $0 = read }
            return read.entries
        }
        guard let cached, now - cached.atMonotonicMs < staleMs else { return nil }
        return cached.entries
    }

    func render(_ service: ScheduleService?, clock: any Clock, into out: inout String) {
        let entries = current(service, clock: clock) ?? []
        out += "# HELP baton_schedule_period_seconds Shortest period among the saved schedule's triggers (interval; daily 86400; weekly 604800), read from PostgreSQL.\n"
        out += "# TYPE baton_schedule_period_seconds gauge\n"
        for e in entries { out += "baton_schedule_period_seconds{task=\"\(Metrics.escape(e.task))\"} \(e.periodSeconds)\n" }
        out += "# HELP baton_schedule_first_saved_timestamp_seconds When the task's schedule was first saved in Baton (Unix time), read from PostgreSQL.\n"
        out += "# TYPE baton_schedule_first_saved_timestamp_seconds gauge\n"
        for e in entries { out += "baton_schedule_first_saved_timestamp_seconds{task=\"\(Metrics.escape(e.task))\"} \(e.firstSavedSeconds)\n" }
    }
}
