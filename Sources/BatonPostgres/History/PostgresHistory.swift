public import BatonCore
import Synchronization

/// Durable history in PostgreSQL: the outbox's writer (``HistoryStore``) and the
/// incident endpoints' reader (``HistoryReader``).
///
/// Writes are idempotent upserts, so a batch retried after a failure, or the two halves
/// of one run arriving through different Baton replicas, end up as exactly one row.
public final class PostgresHistory: HistoryStore, HistoryReader {
    private let db: PerThreadPostgres
    private let migrated = Atomic<Bool>(false)

    public init(db: PerThreadPostgres) {
        self.db = db
    }

    /// Applies migrations if this process has not yet; safe to call repeatedly.
    public func ensureMigrated() throws(BackendError) {
        if migrated.load(ordering: .acquiring) { return }
        try wrap { _ = try Migrations.apply(on: db.connection) }
        migrated.store(true, ordering: .releasing)
    }

    public func write(_ events: [HistoryEvent]) throws(BackendError) {
        try ensureMigrated()
        let c = db.connection
        try wrap {
            try c.execute("BEGIN")
            do {
                // Runs go in as few multi-row upserts as possible: one statement per event
                // kept the writer at about 1,000 rows/s, below what a busy Baton records.
                var runs: [RunRecord] = []
                for event in events {
                    if case .run(let r) = event { runs.append(r) } else { try apply(event, on: c) }
                }
                let merged = Self.merged(runs)
                var start = 0
                while start < merged.count {
                    let chunk = merged[start..<min(merged.count, start + Self.runsPerStatement)]
                    _ = try c.query(SQL.upsertRuns(count: chunk.count), chunk.flatMap(Self.runParams))
                    start += chunk.count
                }
                try c.execute("COMMIT")
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        }
    }

    private func apply(_ event: HistoryEvent, on c: PostgresConnection) throws {
        switch event {
        case .tenureStarted(let t):
            _ = try c.query(SQL.insertTenure, tenureParams(t))
            // Whatever tenure of this lease was still open has run out: a new one began.
            _ = try c.query(SQL.expireOlderTenures, [t.lease.value, String(t.fencingToken.value), String(t.acquiredAtMs)])
        case .tenureEnded(let t, let endedAtMs, let reason):
            _ = try c.query(SQL.endTenure, tenureParams(t) + [String(endedAtMs), reason.rawValue])
        case .run(let r):
            _ = try c.query(SQL.upsertRuns(count: 1), Self.runParams(r))
        }
    }

    static let runsPerStatement = 100

    static func runParams(_ r: RunRecord) -> [String?] {
        [r.runId, r.task.value, r.slot?.value, r.holder.value, r.fencingToken.map { String($0.value) },
         r.claimedAtMs.map(String.init), r.finishedAtMs.map(String.init), r.status.rawValue, r.detail,
         r.mode.rawValue, r.late ? "true" : "false", r.lockAtMostMs.map(String.init), r.external ? "true" : "false"]
    }

    /// One record per run id, in order of first appearance, combined by the rules of the
    /// upsert's ON CONFLICT clause (the first claim-side value, the last finish-side one),
    /// so one statement may carry a run's claim and completion: the result is the row that
    /// upserting them one by one would leave.
    static func merged(_ runs: [RunRecord]) -> [RunRecord] {
        var order: [String] = []
        var byId: [String: RunRecord] = [:]
        for r in runs {
            guard let m = byId[r.runId] else {
                order.append(r.runId)
                byId[r.runId] = r
                continue
            }
            byId[r.runId] = RunRecord(runId: m.runId, task: m.task, slot: m.slot ?? r.slot, holder: m.holder,
                                      fencingToken: m.fencingToken ?? r.fencingToken, claimedAtMs: m.claimedAtMs ?? r.claimedAtMs,
                                      lockAtMostMs: [m.lockAtMostMs, r.lockAtMostMs].compactMap { $0 }.max(),
                                      finishedAtMs: r.finishedAtMs ?? m.finishedAtMs,
                                      status: r.status != .running ? r.status : m.status, detail: r.detail ?? m.detail,
                                      mode: m.mode, late: m.late || r.late, external: m.external || r.external)
        }
        return order.compactMap { byId[$0] }
    }

    private func tenureParams(_ t: TenureRecord) -> [String?] {
        [t.lease.value, String(t.fencingToken.value), t.holder.value, String(t.acquiredAtMs), String(t.ttlMs)]
    }

    public func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] {
        try ensureMigrated()
        let rows = try wrap { try db.connection.query(SQL.runsOfTask, [task.value, String(limit)]) }
        return try Self.runs(rows)
    }

    public func lastRuns() throws(BackendError) -> [TaskName: RunRecord] {
        try ensureMigrated()
        let runs = try Self.runs(try wrap { try db.connection.query(SQL.lastRuns) })
        return Dictionary(runs.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] {
        try ensureMigrated()
        return try Self.tenures(try wrap { try db.connection.query(SQL.tenuresOfLease, [lease.value, String(limit)]) })
    }

    public func guardrails(for resource: Resource) throws(BackendError) -> Guardrails {
        try ensureMigrated()
        let (sql, name): (String, String)
        switch resource {
        case .lease(let l): (sql, name) = (SQL.leaseGuardrails, l.value)
        case .task(let t): (sql, name) = (SQL.taskGuardrails, t.value)
        }
        let row = try wrap { try db.connection.query(sql, [name]) }.rows(width: 2, of: "guardrails").first
        return Guardrails(floor: row?[0].flatMap(Int64.init) ?? 0, recoveryWindowMs: row?[1].flatMap(Int.init) ?? 0)
    }

    public func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? {
        try ensureMigrated()
        return try wrap { try db.connection.query(SQL.completedRunOfSlot, [task.value, slot.value]) }
            .rows(width: 1, of: "completed run").first?[0] ?? nil
    }

    /// Rows of `task_runs` as the SELECTs in ``SQL`` return them. A row the columns cannot
    /// describe is a protocol error, not a run left out of the answer without a word.
    static func runs(_ result: PostgresRows) throws(BackendError) -> [RunRecord] {
        var out: [RunRecord] = []
        for row in try result.rows(width: 12, of: "task runs") {
            guard let r = run(row) else { throw BackendError(.protocolError, "postgres task runs: unreadable row") }
            out.append(r)
        }
        return out
    }

    /// Rows of `lease_tenures` as ``SQL/tenuresOfLease`` returns them; see ``runs(_:)``.
    static func tenures(_ result: PostgresRows) throws(BackendError) -> [TenureHistoryEntry] {
        var out: [TenureHistoryEntry] = []
        for row in try result.rows(width: 7, of: "lease tenures") {
            guard let lease = row[0].flatMap(LeaseName.init), let token = row[1].flatMap(Int64.init),
                  let holder = row[2].flatMap(Holder.init), let at = row[3].flatMap(Int64.init),
                  let ttl = row[4].flatMap(Int.init) else { throw BackendError(.protocolError, "postgres lease tenures: unreadable row") }
            out.append(TenureHistoryEntry(record: TenureRecord(lease: lease, holder: holder, fencingToken: FencingToken(token),
                                                               acquiredAtMs: at, ttlMs: ttl),
                                          endedAtMs: row[5].flatMap(Int64.init), endReason: row[6].flatMap(TenureEnd.init)))
        }
        return out
    }

    private static func run(_ row: [String?]) -> RunRecord? {
        guard let runId = row[0], let task = row[1].flatMap(TaskName.init), let holder = row[3].flatMap(Holder.init),
              let status = row[7].flatMap(RunStatus.init), let mode = row[9].flatMap(Mode.init) else { return nil }
        return RunRecord(runId: runId, task: task, slot: row[2].flatMap(Slot.init), holder: holder,
                         fencingToken: row[4].flatMap(Int64.init).map(FencingToken.init),
                         claimedAtMs: row[5].flatMap(Int64.init), finishedAtMs: row[6].flatMap(Int64.init),
                         status: status, detail: row[8], mode: mode, late: row[10] == "t", external: row[11] == "t")
    }
}

/// Runs libpq work, turning statement errors into backend errors (for the domain, a
/// database that rejects Baton's own statements cannot serve, e.g. a missing table).
func wrap<T>(_ body: () throws -> T) throws(BackendError) -> T {
    do {
        return try body()
    } catch let e as BackendError {
        throw e
    } catch let e as PostgresStatementError {
        throw BackendError(.server, "postgres \(e.sqlState): \(e.message.prefix(200))")
    } catch {
        throw BackendError(.io, "postgres: \(error)")
    }
}

/// Every statement Baton runs against its own schema. Values are always parameters.
enum SQL {

    static let insertTenure = """
    INSERT INTO baton.lease_tenures (lease, fencing_token, holder, acquired_at, ttl_ms)
    VALUES ($1, $2::bigint, $3, to_timestamp($4::bigint / 1000.0), $5::integer)
    ON CONFLICT (lease, fencing_token) DO NOTHING
    """

    static let expireOlderTenures = """
    UPDATE baton.lease_tenures SET ended_at = to_timestamp($3::bigint / 1000.0), end_reason = 'expired'
    WHERE lease = $1 AND fencing_token < $2::bigint AND ended_at IS NULL
    """

    /// A release may arrive before its start (different replicas): insert or close it.
    static let endTenure = """
    INSERT INTO baton.lease_tenures (lease, fencing_token, holder, acquired_at, ttl_ms, ended_at, end_reason)
    VALUES ($1, $2::bigint, $3, to_timestamp($4::bigint / 1000.0), $5::integer, to_timestamp($6::bigint / 1000.0), $7)
    ON CONFLICT (lease, fencing_token) DO UPDATE SET ended_at = EXCLUDED.ended_at, end_reason = EXCLUDED.end_reason
    """

    /// Claim and finish merge by run id in either order; a finish is never undone.
    /// The upsert for `count` runs (13 parameters each, in ``PostgresHistory/runParams(_:)``
    /// order); their run ids must differ (see ``PostgresHistory/merged(_:)``).
    static func upsertRuns(count: Int) -> String {
        let rows = (0..<count).map { n in
            let p = { (k: Int) in "$\(n * 13 + k)" }
            return "(\(p(1))::uuid, \(p(2)), \(p(3)), \(p(4)), \(p(5))::bigint, to_timestamp(\(p(6))::bigint / 1000.0), "
                + "to_timestamp(\(p(7))::bigint / 1000.0), \(p(8)), \(p(9)), \(p(10)), \(p(11))::boolean, \(p(12))::integer, \(p(13))::boolean)"
        }
        return upsertRunsHead + rows.joined(separator: ",\n") + "\n" + upsertRunsConflict
    }

    static let upsertRunsHead = """
    INSERT INTO baton.task_runs (run_id, task, slot, holder, fencing_token, claimed_at, finished_at, status, detail, mode, late,
                                 lock_at_most_ms, external)
    VALUES

    """

    static let upsertRunsConflict = """
    ON CONFLICT (run_id) DO UPDATE SET
        lock_at_most_ms = GREATEST(baton.task_runs.lock_at_most_ms, EXCLUDED.lock_at_most_ms),
        slot          = COALESCE(baton.task_runs.slot, EXCLUDED.slot),
        fencing_token = COALESCE(baton.task_runs.fencing_token, EXCLUDED.fencing_token),
        claimed_at    = COALESCE(baton.task_runs.claimed_at, EXCLUDED.claimed_at),
        finished_at   = COALESCE(EXCLUDED.finished_at, baton.task_runs.finished_at),
        status        = CASE WHEN EXCLUDED.status <> 'running' THEN EXCLUDED.status ELSE baton.task_runs.status END,
        detail        = COALESCE(EXCLUDED.detail, baton.task_runs.detail),
        late          = baton.task_runs.late OR EXCLUDED.late,
        external      = baton.task_runs.external OR EXCLUDED.external
    """

    /// A cancelled run leaves its slot open, as in the Redis scripts.
    static let completedRunOfSlot = """
    SELECT run_id::text FROM baton.task_runs
    WHERE task = $1 AND slot = $2 AND status IN ('succeeded', 'failed') LIMIT 1
    """

    static let runColumns = """
    run_id::text, task, slot, holder, fencing_token::text,
    (extract(epoch FROM claimed_at) * 1000)::bigint::text, (extract(epoch FROM finished_at) * 1000)::bigint::text,
    status, detail, mode, late, external
    """

    static let runsOfTask = """
    SELECT \(runColumns) FROM baton.task_runs WHERE task = $1
    ORDER BY COALESCE(claimed_at, finished_at) DESC LIMIT $2::integer
    """

    static let lastRuns = """
    SELECT DISTINCT ON (task) \(runColumns) FROM baton.task_runs
    ORDER BY task, COALESCE(claimed_at, finished_at) DESC
    """

    static let tenuresOfLease = """
    SELECT lease, fencing_token::text, holder, (extract(epoch FROM acquired_at) * 1000)::bigint::text, ttl_ms::text,
           (extract(epoch FROM ended_at) * 1000)::bigint::text, end_reason
    FROM baton.lease_tenures WHERE lease = $1 ORDER BY fencing_token DESC LIMIT $2::integer
    """

    /// Highest token; and how long an open tenure may still be believed held (as if
    /// renewed just now, since renewals are not recorded).
    static let leaseGuardrails = """
    SELECT COALESCE(MAX(fencing_token), 0)::text, COALESCE(MAX(ttl_ms) FILTER (WHERE ended_at IS NULL), 0)::text
    FROM baton.lease_tenures WHERE lease = $1
    """

    /// Highest token; and how long an unfinished claim may still be live.
    static let taskGuardrails = """
    SELECT COALESCE(MAX(fencing_token), 0)::text,
           GREATEST(0, COALESCE(MAX((extract(epoch FROM claimed_at) * 1000)::bigint + lock_at_most_ms
                                    - (extract(epoch FROM now()) * 1000)::bigint)
                                FILTER (WHERE finished_at IS NULL), 0))::text
    FROM baton.task_runs WHERE task = $1
    """
}
