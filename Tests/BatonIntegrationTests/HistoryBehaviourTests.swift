import BatonCore
import BatonPostgres
import BatonTestSupport
import Testing

/// One history suite, run against the in-memory fake (what the API unit tests read) and
/// against PostgresHistory on a real PostgreSQL, so the fake cannot drift from the SQL.
@Suite struct HistoryBehaviourTests {
    static let kinds = ["fake", "postgres"]
    let task = TaskName("RefreshLibrary")!
    let lease = LeaseName("scheduler")!
    let a = Holder("pod-a")!
    let b = Holder("pod-b")!
    // PostgreSQL keeps timestamps to the µs and Baton reads them back in ms: whole ms round-trip.
    let t0: Int64 = 1_800_000_000_000

    /// The history and what keeps it alive (the database for the real one).
    func make(_ kind: String) throws -> (any HistoryStore & HistoryReader, AnyObject?) {
        if kind == "fake" { return (InMemoryHistory(clock: ManualClock()), nil) }
        let db = try PostgresDatabase(jellyfinTables: false)
        return (PostgresHistory(db: PerThreadPostgres(settings: PostgresSettings(url: db.url))), db)
    }

    func id(_ n: Int) -> String { "5c1d0f3e-0000-4000-8000-00000000000\(n)" }

    func claim(_ n: Int, at: Int64, holder: Holder? = nil, slot: Slot? = nil, token: Int64 = 7) -> RunRecord {
        RunRecord(runId: id(n), task: task, slot: slot, holder: holder ?? a, fencingToken: FencingToken(token), claimedAtMs: at,
                  lockAtMostMs: 60_000, mode: .normal)
    }

    @Test(arguments: kinds) func runsMergeByRunIdInEitherOrderAndListNewestFirst(_ kind: String) throws {
        let (h, keep) = try make(kind)
        defer { withExtendedLifetime(keep) {} }
        let slot = Slot("2026-11-27T03:00")!
        var done = claim(1, at: t0, slot: slot)
        done.status = .succeeded
        done.finishedAtMs = t0 + 5_000
        done.detail = "ok"
        // The finish arrives first (another replica), then its claim, in separate batches.
        let finishOnly = RunRecord(runId: id(1), task: task, slot: nil, holder: a, fencingToken: nil, claimedAtMs: nil,
                                   finishedAtMs: t0 + 5_000, status: .succeeded, detail: "ok", mode: .normal)
        try h.write([.run(finishOnly)])
        try h.write([.run(claim(1, at: t0, slot: slot))])
        try h.write([.run(claim(2, at: t0 + 10_000, holder: b, token: 8)), .run(claim(3, at: t0 + 20_000, token: 9))])
        let runs = try h.runs(of: task, limit: 10)
        #expect(runs.map(\.runId) == [id(3), id(2), id(1)], "\(kind)")
        // lock_at_most_ms is written for the guardrails but not read back with a run.
        #expect(runs.last == RunRecord(runId: id(1), task: task, slot: slot, holder: a, fencingToken: FencingToken(7), claimedAtMs: t0,
                                       finishedAtMs: t0 + 5_000, status: .succeeded, detail: "ok", mode: .normal), "\(kind)")
        #expect(try h.runs(of: task, limit: 2).count == 2, "\(kind)")
        #expect(try h.lastRuns()[task]?.runId == id(3), "\(kind)")
        #expect(try h.completedRun(of: task, slot: slot) == id(1), "\(kind)")
        #expect(try h.completedRun(of: task, slot: Slot("2026-11-28T03:00")!) == nil, "\(kind)")
        #expect(try h.guardrails(for: .task(task)).floor == 9, "\(kind)")
        // A retried batch changes nothing.
        try h.write([.run(claim(1, at: t0, slot: slot))])
        #expect(try h.runs(of: task, limit: 10).last?.status == .succeeded, "\(kind)")
    }

    @Test(arguments: kinds) func tenuresExpireOlderOnesAndEndOnce(_ kind: String) throws {
        let (h, keep) = try make(kind)
        defer { withExtendedLifetime(keep) {} }
        let first = TenureRecord(lease: lease, holder: a, fencingToken: FencingToken(10), acquiredAtMs: t0, ttlMs: 30_000)
        let second = TenureRecord(lease: lease, holder: b, fencingToken: FencingToken(11), acquiredAtMs: t0 + 40_000, ttlMs: 20_000)
        try h.write([.tenureStarted(first)])
        #expect(try h.guardrails(for: .lease(lease)) == Guardrails(floor: 10, recoveryWindowMs: 30_000), "\(kind)")
        try h.write([.tenureStarted(second), .tenureStarted(second)])
        var ts = try h.tenures(of: lease, limit: 10)
        #expect(ts.map(\.record.fencingToken.value) == [11, 10], "\(kind)")
        #expect(ts.last?.endReason == .expired && ts.last?.endedAtMs == t0 + 40_000 && ts.first?.endedAtMs == nil, "\(kind)")
        // A release that arrives before its start (another replica) inserts the ended row.
        let third = TenureRecord(lease: lease, holder: a, fencingToken: FencingToken(12), acquiredAtMs: t0 + 70_000, ttlMs: 5_000)
        try h.write([.tenureEnded(third, endedAtMs: t0 + 71_000, reason: .released), .tenureStarted(third)])
        ts = try h.tenures(of: lease, limit: 1)
        #expect(ts == [TenureHistoryEntry(record: third, endedAtMs: t0 + 71_000, endReason: .released)], "\(kind)")
        // Its start expired the open tenure 11: none is open, no recovery window.
        #expect(try h.tenures(of: lease, limit: 2).last?.endReason == .expired, "\(kind)")
        #expect(try h.guardrails(for: .lease(lease)) == Guardrails(floor: 12, recoveryWindowMs: 0), "\(kind)")
        #expect(try h.tenures(of: LeaseName("other")!, limit: 10).isEmpty, "\(kind)")
    }
}
