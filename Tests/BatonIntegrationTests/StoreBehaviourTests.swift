import BatonCore
import BatonRedis
import BatonTestSupport
import Foundation
import Testing

/// One behaviour suite, run against the in-memory fake and against the real Redis
/// scripts, so the fake the unit tests rely on cannot drift from production.
final class StoreHarness: Sendable {
    let name: String
    let leases: any LeaseStore
    let claims: any ClaimStore
    private let advanceBy: @Sendable (Int) -> Void
    private let redis: RedisProcess?
    private let fake: InMemoryStore?

    init(name: String, leases: any LeaseStore, claims: any ClaimStore, redis: RedisProcess?, fake: InMemoryStore? = nil,
         advance: @escaping @Sendable (Int) -> Void) {
        self.name = name
        self.leases = leases
        self.claims = claims
        self.redis = redis
        self.fake = fake
        self.advanceBy = advance
    }

    func advance(ms: Int) { advanceBy(ms) }

    /// Another server with the same data (a restart from disk).
    func changeServer() throws {
        fake?.changeServer()
        try redis?.restartKeepingData()
    }

    /// Keeps the data as it is now, for ``failoverToSnapshot()``.
    func snapshot() throws {
        fake?.snapshot()
        try redis?.snapshot()
    }

    /// Another server with the data of the last snapshot: a replica that missed the writes since.
    func failoverToSnapshot() throws {
        fake?.failoverToSnapshot()
        try redis?.failoverToSnapshot()
    }

    static func make(_ kind: String) throws -> StoreHarness {
        if kind == "fake" {
            let clock = ManualClock()
            let store = InMemoryStore(clock: clock)
            return StoreHarness(name: kind, leases: store, claims: store, redis: nil, fake: store) { clock.advance(ms: Int64($0)) }
        }
        let redis = try RedisProcess()
        let conn = PerThreadRedis(endpoint: try RedisEndpoint(url: redis.url))
        return StoreHarness(name: kind, leases: RedisLeaseStore(redis: conn), claims: RedisClaimStore(redis: conn), redis: redis) {
            usleep(useconds_t($0 * 1_000))
        }
    }
}

@Suite struct StoreBehaviourTests {
    static let kinds = ["fake", "redis"]
    let lease = LeaseName("scheduler")!
    let task = TaskName("RefreshLibrary")!
    let a = Holder("pod-a")!
    let b = Holder("pod-b")!

    @Test(arguments: kinds) func acquireRenewAndConflict(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        guard case .acquired(let t, let previous) = try s.leases.acquire(lease, holder: a, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        // A resource new to this server starts its counter at the server's clock in µs.
        #expect(t.holder == a && t.fencingToken.value > 1_700_000_000_000_000 && t.ttlMs == 5_000 && previous == nil)
        guard case .renewed(let r) = try s.leases.acquire(lease, holder: a, ttlMs: 6_000, guardrails: .none) else {
            Issue.record("\(kind): not renewed"); return
        }
        #expect(r.fencingToken == t.fencingToken && r.ttlMs == 6_000 && r.acquiredAtMs == t.acquiredAtMs)
        guard case .heldByOther(let other) = try s.leases.acquire(lease, holder: b, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): b acquired"); return
        }
        #expect(other.holder == a && other.expiresInMs <= 6_000 && other.expiresInMs > 5_000)
        #expect(try s.leases.tenure(of: lease)?.holder == a)
        #expect(try s.leases.knownLeases() == [lease])
    }

    @Test(arguments: kinds) func expiryAndFencing(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        guard case .acquired(let first, _) = try s.leases.acquire(lease, holder: a, ttlMs: 150, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        s.advance(ms: 250)
        #expect(try s.leases.tenure(of: lease) == nil)
        guard case .notHeld(nil) = try s.leases.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else {
            Issue.record("\(kind): renew re-acquired"); return
        }
        guard case .acquired(let t, let previous) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): b not acquired"); return
        }
        #expect(t.fencingToken.value == first.fencingToken.value + 1 && previous == a)
        guard case .notHeld(let cur) = try s.leases.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else {
            Issue.record("\(kind): a renewed b's lease"); return
        }
        #expect(cur?.holder == b)
        guard case .notHeld = try s.leases.renew(lease, holder: b, ttlMs: 1_000, fencingToken: first.fencingToken) else {
            Issue.record("\(kind): stale token renewed"); return
        }
        guard case .renewed = try s.leases.renew(lease, holder: b, ttlMs: 1_000, fencingToken: t.fencingToken) else {
            Issue.record("\(kind): current token refused"); return
        }
    }

    @Test(arguments: kinds) func releaseAndFloor(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        #expect(try s.leases.release(lease, holder: a, fencingToken: nil) == .vacant)
        guard case .acquired(let first, _) = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        guard case .heldByOther = try s.leases.release(lease, holder: b, fencingToken: nil) else { Issue.record("\(kind): b released"); return }
        guard case .released(let t) = try s.leases.release(lease, holder: a, fencingToken: first.fencingToken) else {
            Issue.record("\(kind): not released"); return
        }
        #expect(t.holder == a)
        let floor = first.fencingToken.value + 40  // another replica handed out tokens this counter has not seen
        guard case .acquired(let next, _) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: Guardrails(floor: floor)) else {
            Issue.record("\(kind): b not acquired"); return
        }
        #expect(next.fencingToken.value == floor + 1)
    }

    @Test(arguments: kinds) func claimsFollowShedLockSemantics(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let slot = Slot("2026-11-27T03:00")!
        let req = ClaimRequest(task: task, holder: a, slot: slot, lockAtMostMs: 5_000, lockAtLeastMs: 300)
        guard case .claimed(let c) = try s.claims.claim(req, runId: "r1", guardrails: .none) else { Issue.record("\(kind): not claimed"); return }
        #expect(c.runId == "r1" && c.slot == slot && c.state == .running && c.fencingToken.value > 1_700_000_000_000_000)
        let other = ClaimRequest(task: task, holder: b, slot: nil, lockAtMostMs: 5_000, lockAtLeastMs: 0)
        guard case .refused(.held, let cur) = try s.claims.claim(other, runId: "r2", guardrails: .none) else {
            Issue.record("\(kind): not held"); return
        }
        #expect(cur?.holder == a)
        guard case .lost = try s.claims.extend(task, runId: "r1", holder: b, lockAtMostMs: 5_000) else { Issue.record("\(kind): b extended"); return }
        guard case .extended = try s.claims.extend(task, runId: "r1", holder: a, lockAtMostMs: 5_000) else { Issue.record("\(kind): a not extended"); return }
        guard case .completed(let done) = try s.claims.complete(task, runId: "r1", holder: a, status: .succeeded) else {
            Issue.record("\(kind): not completed"); return
        }
        #expect(done.state == .completed)
        guard case .refused(.recentlyCompleted, _) = try s.claims.claim(other, runId: "r3", guardrails: .none) else {
            Issue.record("\(kind): lock_at_least ignored"); return
        }
        s.advance(ms: 400)
        guard case .refused(.slotDone, _) = try s.claims.claim(ClaimRequest(task: task, holder: b, slot: slot, lockAtMostMs: 5_000, lockAtLeastMs: 0),
                                                              runId: "r4", guardrails: .none) else {
            Issue.record("\(kind): slot ran twice"); return
        }
        guard case .claimed(let next) = try s.claims.claim(other, runId: "r5", guardrails: .none) else { Issue.record("\(kind): no new claim"); return }
        #expect(next.fencingToken.value == c.fencingToken.value + 1)
        #expect(try s.claims.knownTasks() == [task])
    }

    @Test(arguments: kinds) func lateCompletion(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let req = ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 150, lockAtLeastMs: 0)
        _ = try s.claims.claim(req, runId: "r1", guardrails: .none)
        s.advance(ms: 250)
        #expect(try s.claims.claim(of: task) == nil)
        guard case .late(nil) = try s.claims.complete(task, runId: "r1", holder: a, status: .succeeded) else {
            Issue.record("\(kind): late completion accepted"); return
        }
        guard case .lost(nil) = try s.claims.extend(task, runId: "r1", holder: a, lockAtMostMs: 1_000) else {
            Issue.record("\(kind): expired claim extended"); return
        }
    }

    // MARK: a server that may have lost or missed writes (restart, failover)

    @Test(arguments: kinds) func aNewServerVoidsTenuresAndTokensJumpAboveAll(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        guard case .acquired(let old, _) = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        try s.changeServer()
        // Even with the data intact, the new server cannot know it saw every write.
        #expect(try s.leases.tenure(of: lease) == nil, "\(kind): a tenure of the earlier server is shown")
        #expect(try s.leases.release(lease, holder: a, fencingToken: nil) == .vacant)
        guard case .notHeld(nil) = try s.leases.renew(lease, holder: a, ttlMs: 60_000, fencingToken: nil) else {
            Issue.record("\(kind): the earlier server's tenure was renewed"); return
        }
        guard case .acquired(let next, _) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): no new tenure after the change"); return
        }
        #expect(next.fencingToken.value > old.fencingToken.value)
        guard case .renewed = try s.leases.renew(lease, holder: b, ttlMs: 1_000, fencingToken: next.fencingToken) else {
            Issue.record("\(kind): a tenure of the new server was not renewed"); return
        }
    }

    @Test(arguments: kinds) func aLaggingReplicaCannotHandBackAnOldTenure(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        guard case .acquired(let t1, _) = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        try s.snapshot()  // the replica's last copy: a holds t1
        _ = try s.leases.release(lease, holder: a, fencingToken: t1.fencingToken)
        guard case .acquired(let t2, _) = try s.leases.acquire(lease, holder: b, ttlMs: 60_000, guardrails: .none) else {
            Issue.record("\(kind): b not acquired"); return
        }
        try s.failoverToSnapshot()
        // b still believes it leads; the replica says a does, with the older token. a must
        // not get its tenure back, and nobody a token at or below t2.
        let window = Guardrails(floor: t2.fencingToken.value, recoveryWindowMs: 300)
        guard case .recovering(let wait) = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: window) else {
            Issue.record("\(kind): the lagging replica's tenure was handed back"); return
        }
        #expect(wait > 0 && wait <= 300)
        s.advance(ms: 350)
        guard case .acquired(let t3, _) = try s.leases.acquire(lease, holder: a, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): no tenure after the window"); return
        }
        #expect(t3.fencingToken.value > t2.fencingToken.value, "\(kind): token went backwards: \(t3.fencingToken) after \(t2.fencingToken)")
    }

    @Test(arguments: kinds) func aCarriedWindowHoldsWhateverTheStoreSays(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        _ = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none)
        try s.changeServer()
        // Another replica settled the lease on the new server first, knowing nothing...
        guard case .acquired(let t, _) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        _ = try s.leases.release(lease, holder: b, fencingToken: t.fencingToken)
        // ...then this one, whose holder a may still believe it leads, carries its window.
        guard case .recovering(let wait) = try s.leases.acquire(lease, holder: a, ttlMs: 1_000,
                                                               guardrails: Guardrails(carriedWindowMs: 300)) else {
            Issue.record("\(kind): the carried window was ignored"); return
        }
        #expect(wait > 0 && wait <= 300)
        guard case .recovering = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): the window is not the store's (another replica ignores it)"); return
        }
    }

    @Test(arguments: kinds) func aNewServerVoidsRunningClaimsButKeepsCompletedOnes(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let other = TaskName("ExtractChapters")!
        let running = ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 60_000, lockAtLeastMs: 0)
        let done = ClaimRequest(task: other, holder: a, slot: nil, lockAtMostMs: 60_000, lockAtLeastMs: 60_000)
        guard case .claimed(let c1) = try s.claims.claim(running, runId: "r1", guardrails: .none),
              case .claimed = try s.claims.claim(done, runId: "d1", guardrails: .none) else { Issue.record("\(kind): not claimed"); return }
        guard case .completed = try s.claims.complete(other, runId: "d1", holder: a, status: .succeeded) else {
            Issue.record("\(kind): not completed"); return
        }
        try s.changeServer()
        #expect(try s.claims.claim(of: task) == nil, "\(kind): a running claim of the earlier server is shown")
        guard case .lost = try s.claims.extend(task, runId: "r1", holder: a, lockAtMostMs: 60_000) else {
            Issue.record("\(kind): the earlier server's claim was extended"); return
        }
        guard case .late = try s.claims.complete(task, runId: "r1", holder: a, status: .succeeded) else {
            Issue.record("\(kind): the earlier server's claim completed in time"); return
        }
        let again = ClaimRequest(task: task, holder: b, slot: nil, lockAtMostMs: 1_000, lockAtLeastMs: 0)
        guard case .claimed(let c2) = try s.claims.claim(again, runId: "r2", guardrails: .none) else {
            Issue.record("\(kind): no new claim after the change"); return
        }
        #expect(c2.fencingToken.value > c1.fencingToken.value)
        // A finished run still keeps its task from running again too soon.
        guard case .refused(.recentlyCompleted, _) = try s.claims.claim(ClaimRequest(task: other, holder: b, slot: nil, lockAtMostMs: 1_000,
                                                                                     lockAtLeastMs: 0), runId: "d2", guardrails: .none) else {
            Issue.record("\(kind): a completed claim was voided"); return
        }
    }
}
