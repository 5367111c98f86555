public import BatonCore

/// Shared schedules in PostgreSQL (``ScheduleStore``). Unlike run history, a save is
/// written synchronously: the caller removes a task's triggers from its Jellyfin only
/// after Baton said the schedule is stored, so it must never sit in a memory outbox.
public final class PostgresSchedules: ScheduleStore {
    private let db: PerThreadPostgres
    private let history: PostgresHistory

    /// `history` applies the migrations (one schema, one migration path).
    public init(db: PerThreadPostgres, history: PostgresHistory) {
        self.db = db
        self.history = history
    }

    public func all() throws(BackendError) -> [Schedule] {
        try history.ensureMigrated()
        let c = db.connection
        return try wrap {
            let heads = try c.query(ScheduleSQL.current, [nil]).rows
            let triggers = try c.query(ScheduleSQL.currentTriggers, [nil]).rows
            return Self.assemble(heads, triggers)
        }
    }

    public func schedule(of task: TaskName) throws(BackendError) -> Schedule? {
        try history.ensureMigrated()
        let c = db.connection
        return try wrap {
            let heads = try c.query(ScheduleSQL.current, [task.value]).rows
            let triggers = try c.query(ScheduleSQL.currentTriggers, [task.value]).rows
            return Self.assemble(heads, triggers).first
        }
    }

    public func revisions(of task: TaskName, limit: Int) throws(BackendError) -> [Schedule] {
        try history.ensureMigrated()
        let c = db.connection
        return try wrap {
            let heads = try c.query(ScheduleSQL.revisions, [task.value, String(limit)]).rows
            let triggers = try c.query(ScheduleSQL.revisionTriggers, [task.value, String(limit)]).rows
            return Self.assemble(heads, triggers)
        }
    }

    public func save(_ task: TaskName, triggers: [ScheduleTrigger], by holder: Holder, note: String?,
                     atMs: Int64) throws(BackendError) -> ScheduleSave {
        try history.ensureMigrated()
        let c = db.connection
        return try wrap {
            try c.execute("BEGIN")
            do {
                // Replicas saving the same task at once serialize here (and on the row below).
                _ = try c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 422541815663))", [task.value])
                let heads = try c.query(ScheduleSQL.current, [task.value]).rows
                let old = Self.assemble(heads, try c.query(ScheduleSQL.currentTriggers, [task.value]).rows).first
                if let old, old.triggers == triggers {
                    try c.execute("COMMIT")
                    return .unchanged(old)
                }
                let revision = (old?.revision ?? 0) + 1
                _ = try c.query(ScheduleSQL.insertRevision, [task.value, String(revision), String(atMs), holder.value, note])
                for (i, t) in triggers.enumerated() {
                    _ = try c.query(ScheduleSQL.insertTrigger, [
                        task.value, String(revision), String(i), t.kind.rawValue, t.intervalMs.map(String.init),
                        t.timeOfDayMs.map(String.init), t.dayOfWeek?.rawValue, t.maxRuntimeMs.map(String.init),
                    ])
                }
                _ = try c.query(ScheduleSQL.upsertCurrent, [task.value, String(revision), String(atMs)])
                try c.execute("COMMIT")
                let saved = Schedule(task: task, triggers: triggers, revision: revision, firstSavedAtMs: old?.firstSavedAtMs ?? atMs,
                                     savedAtMs: atMs, savedBy: holder, note: note)
                return old == nil ? .created(saved) : .changed(saved)
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Joins head rows (task, revision, first_saved_ms, saved_ms, saved_by, note) with
    /// trigger rows (task, revision, position, kind, interval, time of day, day, max runtime).
    static func assemble(_ heads: [[String?]], _ triggerRows: [[String?]]) -> [Schedule] {
        var byRevision: [String: [ScheduleTrigger]] = [:]
        for row in triggerRows {
            guard let task = row[0], let rev = row[1], let kind = row[3].flatMap(ScheduleTrigger.Kind.init) else { continue }
            byRevision[task + "\u{0}" + rev, default: []].append(ScheduleTrigger(
                kind: kind, intervalMs: row[4].flatMap(Int64.init), timeOfDayMs: row[5].flatMap(Int64.init),
                dayOfWeek: row[6].flatMap(DayOfWeek.init), maxRuntimeMs: row[7].flatMap(Int64.init)))
        }
        return heads.compactMap { row in
            guard let task = row[0].flatMap(TaskName.init), let rev = row[1], let revision = Int(rev),
                  let first = row[2].flatMap(Int64.init), let saved = row[3].flatMap(Int64.init),
                  let by = row[4].flatMap(Holder.init) else { return nil }
            return Schedule(task: task, triggers: byRevision[task.value + "\u{0}" + rev] ?? [], revision: revision,
                            firstSavedAtMs: first, savedAtMs: saved, savedBy: by, note: row[5])
        }
    }
}

/// The statements of ``PostgresSchedules``; values are always parameters.
enum ScheduleSQL {

    /// $1 NULL for every task.
    static let current = """
    SELECT s.task, s.revision::text, (extract(epoch FROM s.first_saved_at) * 1000)::bigint::text,
           (extract(epoch FROM r.saved_at) * 1000)::bigint::text, r.saved_by, r.note
    FROM baton.schedules s JOIN baton.schedule_revisions r ON r.task = s.task AND r.revision = s.revision
    WHERE $1::text IS NULL OR s.task = $1 ORDER BY s.task
    """

    static let currentTriggers = """
    SELECT t.task, t.revision::text, t.position::text, t.kind, t.interval_ms::text, t.time_of_day_ms::text,
           t.day_of_week, t.max_runtime_ms::text
    FROM baton.schedules s JOIN baton.schedule_triggers t ON t.task = s.task AND t.revision = s.revision
    WHERE $1::text IS NULL OR s.task = $1 ORDER BY t.task, t.position
    """

    static let revisions = """
    SELECT r.task, r.revision::text,
           (SELECT (extract(epoch FROM min(f.saved_at)) * 1000)::bigint::text FROM baton.schedule_revisions f WHERE f.task = r.task),
           (extract(epoch FROM r.saved_at) * 1000)::bigint::text, r.saved_by, r.note
    FROM baton.schedule_revisions r WHERE r.task = $1 ORDER BY r.revision DESC LIMIT $2::integer
    """

    static let revisionTriggers = """
    SELECT t.task, t.revision::text, t.position::text, t.kind, t.interval_ms::text, t.time_of_day_ms::text,
           t.day_of_week, t.max_runtime_ms::text
    FROM baton.schedule_triggers t
    WHERE t.task = $1 AND t.revision > (SELECT COALESCE(MAX(revision), 0) FROM baton.schedule_revisions WHERE task = $1) - $2::integer
    ORDER BY t.revision DESC, t.position
    """

    static let insertRevision = """
    INSERT INTO baton.schedule_revisions (task, revision, saved_at, saved_by, note)
    VALUES ($1, $2::integer, to_timestamp($3::bigint / 1000.0), $4, $5)
    """

    static let insertTrigger = """
    INSERT INTO baton.schedule_triggers (task, revision, position, kind, interval_ms, time_of_day_ms, day_of_week, max_runtime_ms)
    VALUES ($1, $2::integer, $3::integer, $4, $5::bigint, $6::bigint, $7, $8::bigint)
    """

    static let upsertCurrent = """
    INSERT INTO baton.schedules (task, revision, first_saved_at) VALUES ($1, $2::integer, to_timestamp($3::bigint / 1000.0))
    ON CONFLICT (task) DO UPDATE SET revision = EXCLUDED.revision
    """
}
