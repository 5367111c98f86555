import BatonCore
@testable import BatonPostgres
import Testing

/// ``PostgresHistory/merged(_:)`` folds the events of one batch by run id before the single
/// upsert statement (PostgreSQL refuses one INSERT … ON CONFLICT touching a row twice). It
/// must leave what upserting them one by one would: the first claim-side values, the last
/// finish-side ones, a finish never undone.
@Suite struct HistoryMergeTests {
    let task = TaskName("RefreshLibrary")!
    let a = Holder("pod-a")!
    let b = Holder("pod-b")!

    func claim(_ id: String, slot: Slot? = nil, token: Int64 = 7, at: Int64 = 1_000, atMost: Int = 5_000) -> RunRecord {
        RunRecord(runId: id, task: task, slot: slot, holder: a, fencingToken: FencingToken(token), claimedAtMs: at,
                  lockAtMostMs: atMost, mode: .normal)
    }

    @Test func claimThenFinishIsOneRowWithBoth() {
        let slot = Slot("2026-11-27T03:00")!
        var finish = RunRecord(runId: "r1", task: task, slot: nil, holder: b, fencingToken: nil, claimedAtMs: nil,
                               finishedAtMs: 9_000, status: .succeeded, detail: "ok", mode: .degraded, late: true)
        finish.detail = "ok"
        let m = PostgresHistory.merged([claim("r1", slot: slot), finish])
        #expect(m == [RunRecord(runId: "r1", task: task, slot: slot, holder: a, fencingToken: FencingToken(7), claimedAtMs: 1_000,
                                lockAtMostMs: 5_000, finishedAtMs: 9_000, status: .succeeded, detail: "ok", mode: .normal, late: true)])
    }

    @Test func aFinishBeforeItsClaimIsNotUndoneByTheClaim() {
        // A completion can reach the outbox before its claim when two replicas write.
        let finish = RunRecord(runId: "r1", task: task, slot: nil, holder: a, fencingToken: nil, claimedAtMs: nil,
                               finishedAtMs: 9_000, status: .failed, detail: "exit 3", mode: .normal)
        let m = PostgresHistory.merged([finish, claim("r1", at: 1_000)])
        #expect(m.count == 1)
        #expect(m.first?.status == .failed && m.first?.finishedAtMs == 9_000 && m.first?.detail == "exit 3")
        #expect(m.first?.claimedAtMs == 1_000 && m.first?.fencingToken == FencingToken(7))
    }

    @Test func extensionsKeepTheLongestLockAtMostAndTheFirstClaim() {
        let m = PostgresHistory.merged([claim("r1", at: 1_000, atMost: 5_000), claim("r1", token: 8, at: 2_000, atMost: 30_000),
                                        claim("r1", at: 3_000, atMost: 10_000)])
        #expect(m.count == 1 && m.first?.lockAtMostMs == 30_000 && m.first?.claimedAtMs == 1_000 && m.first?.fencingToken == FencingToken(7))
    }

    @Test func distinctRunsKeepTheirOrderOfFirstAppearance() {
        var done = claim("r2")
        done.status = .cancelled
        done.finishedAtMs = 4_000
        let m = PostgresHistory.merged([claim("r2"), claim("r1"), done, claim("r3")])
        #expect(m.map(\.runId) == ["r2", "r1", "r3"])
        #expect(m[0].status == .cancelled && m[1].status == .running)
        // A later running event does not turn a finished run back.
        #expect(PostgresHistory.merged([done, claim("r2")]).first?.status == .cancelled)
        #expect(PostgresHistory.merged([]) == [])
    }
}
