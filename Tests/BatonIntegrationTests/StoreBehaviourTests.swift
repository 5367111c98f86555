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

    init(name: String, leases: any LeaseStore, claims: any ClaimStore, redis: RedisProcess?, advance: @escaping @Sendable (Int) -> Void) {
        self.name = name
        self.leases = leases
        self.claims = claims
        self.redis = redis
        self.advanceBy = advance
    }

    func advance(ms: Int) { advanceBy(ms) }

    static func make(_ kind: String) throws -> StoreHarness {
        if kind == "fake" {
            let clock = ManualClock()
            let store = InMemoryStore(clock: clock)
            return StoreHarness(name: kind, leases: store, claims: store, redis: nil) { clock.advance(ms: Int64($0)) }
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
        #expect(t.holder == a && t.fencingToken == FencingToken(1) && t.ttlMs == 5_000 && previous == nil)
        guard case .renewed(let r) = try s.leases.acquire(lease, holder: a, ttlMs: 6_000, guardrails: .none) else {
            Issue.record("\(kind): not renewed"); return
        }
        #expect(r.fencingToken == FencingToken(1) && r.ttlMs == 6_000 && r.acquiredAtMs == t.acquiredAtMs)
        guard case .heldByOther(let other) = try s.leases.acquire(lease, holder: b, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): b acquired"); return
        }
        #expect(other.holder == a && other.expiresInMs <= 6_000 && other.expiresInMs > 5_000)
        #expect(try s.leases.tenure(of: lease)?.holder == a)
        #expect(try s.leases.knownLeases() == [lease])
    }

    @Test(arguments: kinds) func expiryAndFencing(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        _ = try s.leases.acquire(lease, holder: a, ttlMs: 150, guardrails: .none)
        s.advance(ms: 250)
        #expect(try s.leases.tenure(of: lease) == nil)
        guard case .notHeld(nil) = try s.leases.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else {
            Issue.record("\(kind): renew re-acquired"); return
        }
        guard case .acquired(let t, let previous) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): b not acquired"); return
        }
        #expect(t.fencingToken == FencingToken(2) && previous == a)
        guard case .notHeld(let cur) = try s.leases.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else {
            Issue.record("\(kind): a renewed b's lease"); return
        }
        #expect(cur?.holder == b)
        guard case .notHeld = try s.leases.renew(lease, holder: b, ttlMs: 1_000, fencingToken: FencingToken(1)) else {
            Issue.record("\(kind): stale token renewed"); return
        }
        guard case .renewed = try s.leases.renew(lease, holder: b, ttlMs: 1_000, fencingToken: FencingToken(2)) else {
            Issue.record("\(kind): current token refused"); return
        }
    }

    @Test(arguments: kinds) func releaseAndFloor(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        #expect(try s.leases.release(lease, holder: a, fencingToken: nil) == .vacant)
        _ = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none)
        guard case .heldByOther = try s.leases.release(lease, holder: b, fencingToken: nil) else { Issue.record("\(kind): b released"); return }
        guard case .released(let t) = try s.leases.release(lease, holder: a, fencingToken: FencingToken(1)) else {
            Issue.record("\(kind): not released"); return
        }
        #expect(t.holder == a)
        guard case .acquired(let next, _) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: Guardrails(floor: 41)) else {
            Issue.record("\(kind): b not acquired"); return
        }
        #expect(next.fencingToken == FencingToken(42))
    }

    @Test(arguments: kinds) func claimsFollowShedLockSemantics(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let slot = Slot("2026-11-27T03:00")!
        let req = ClaimRequest(task: task, holder: a, slot: slot, lockAtMostMs: 5_000, lockAtLeastMs: 300)
        guard case .claimed(let c) = try s.claims.claim(req, runId: "r1", guardrails: .none) else { Issue.record("\(kind): not claimed"); return }
        #expect(c.runId == "r1" && c.slot == slot && c.state == .running && c.fencingToken == FencingToken(1))
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
        #expect(next.fencingToken == FencingToken(2))
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
}
