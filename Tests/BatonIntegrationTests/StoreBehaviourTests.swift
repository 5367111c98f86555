import BatonCore
import BatonRedis
import BatonSupport
import BatonTestSupport
import Foundation
import Synchronization
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

    /// Keys (Redis) or entries (fake) held: 0 for a store that has granted nothing.
    func resident() throws -> Int {
        if let fake { return fake.residentEntries }
        return Int(try redis!.cli("DBSIZE")) ?? -1
    }

    /// Changes when the store writes: Redis' count of writes since the last save (every
    /// write counts, even one that leaves the value as it was), the fake's whole state.
    func writeMark() throws -> String {
        if let fake { return fake.fingerprint }
        let info = try redis!.cli("INFO", "persistence")
        return info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("rdb_changes_since_last_save:") }.map(String.init) ?? "?"
    }

    /// Milliseconds until the meta hash of `kind:name` (`lease:scheduler`) expires: nil
    /// when there is none, -1 when it never expires.
    func metaTTL(_ key: String) throws -> Int64? {
        if let fake { return fake.metaExpiresInMs(key) }
        let v = Int64(try redis!.cli("PTTL", Self.metaKey(key))) ?? -2
        return v == -2 ? nil : v
    }

    /// Lets the meta hash of `key` expire, as it does once its time has come (Redis
    /// expires it itself; the fake's clock is moved past it).
    func expireMeta(_ key: String) throws {
        if let fake, let left = fake.metaExpiresInMs(key) { advance(ms: Int(left) + 1); return }
        try redis?.cli("PEXPIRE", Self.metaKey(key), "1")
        // Redis deletes an expired key when it is next touched (or by its background cycle,
        // later): EXISTS touches it, so DBSIZE no longer counts it.
        for _ in 0..<100 where try redis?.cli("EXISTS", Self.metaKey(key)) != "0" { usleep(10_000) }
    }

    private static func metaKey(_ key: String) -> String {
        let parts = key.split(separator: ":", maxSplits: 1)
        return "baton:\(parts[0]):{\(parts[1])}:meta"
    }

    static func make(_ kind: String) throws -> StoreHarness {
        if kind == "fake" {
            let clock = ManualClock()
            let store = InMemoryStore(clock: clock)
            return StoreHarness(name: kind, leases: store, claims: store, redis: nil, fake: store) { clock.advance(ms: Int64($0)) }
        }
        let redis = try RedisProcess()
        let conn = PerThreadRedis(endpoint: try RedisEndpoint(url: redis.url), pipelined: kind == "redis-pipeline")
        let leases: any LeaseStore = kind == "redis-pipeline" ? PipelinedAcquires(RedisLeaseStore(redis: conn)) : RedisLeaseStore(redis: conn)
        return StoreHarness(name: kind, leases: leases, claims: RedisClaimStore(redis: conn), redis: redis) {
            usleep(useconds_t($0 * 1_000))
        }
    }
}

/// The Redis store with every acquire sent through its ``RedisPipeline`` (the answer-later
/// call `POST /leader` makes), waited for here: the behaviour suite then checks that path too.
struct PipelinedAcquires: LeaseStore {
    let store: RedisLeaseStore

    init(_ store: RedisLeaseStore) {
        precondition(store.answersLater, "the store has no pipeline")
        self.store = store
    }

    func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult {
        let rails = guardrails()
        let answered = WakeSignal()
        let result = Mutex<Result<AcquireResult, BackendError>?>(nil)
        store.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: { rails }) { r in
            result.withLock { $0 = r }
            answered.signal()
        }
        guard answered.wait(timeoutMs: 10_000), let r = result.withLock({ $0 }) else {
            throw BackendError(.timeout, "the pipeline did not answer in 10 s")
        }
        return try r.get()
    }

    func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
               guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
        try store.renew(lease, holder: holder, ttlMs: ttlMs, fencingToken: fencingToken, guardrails: guardrails)
    }

    func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
        try store.release(lease, holder: holder, fencingToken: fencingToken)
    }

    func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? { try store.tenure(of: lease) }
    func knownLeases() throws(BackendError) -> [LeaseName] { try store.knownLeases() }
}

@Suite struct StoreBehaviourTests {
    static let kinds = ["fake", "redis", "redis-pipeline"]
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
        // The renewal's ttl is what the store keeps (the script writes it only when it changes).
        #expect(other.holder == a && other.ttlMs == 6_000 && other.expiresInMs <= 6_000 && other.expiresInMs > 5_000)
        guard case .renewed = try s.leases.acquire(lease, holder: a, ttlMs: 6_000, guardrails: .none),
              case .heldByOther(let same) = try s.leases.acquire(lease, holder: b, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): a second renewal with the same ttl"); return
        }
        #expect(same.ttlMs == 6_000)
        guard case .renewed = try s.leases.renew(lease, holder: a, ttlMs: 7_000, fencingToken: nil),
              case .heldByOther(let longer) = try s.leases.acquire(lease, holder: b, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): renew with a longer ttl"); return
        }
        #expect(longer.ttlMs == 7_000 && longer.expiresInMs > 6_000)
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

    /// A claim, an extension and a completion answer the claim exactly as a read right
    /// after finds it (the scripts build those answers from what they wrote instead of
    /// reading the claim back); only the time left may differ by the time in between.
    @Test(arguments: kinds) func grantsAnswerTheClaimAsAReadFindsIt(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        func expectSameAsRead(_ answer: TaskClaim, _ step: String) throws {
            let read = try #require(try s.claims.claim(of: task), "\(kind) \(step): nothing to read")
            #expect(answer.runId == read.runId && answer.holder == read.holder && answer.slot == read.slot
                    && answer.fencingToken == read.fencingToken && answer.claimedAtMs == read.claimedAtMs
                    && answer.lockAtMostMs == read.lockAtMostMs && answer.lockAtLeastMs == read.lockAtLeastMs
                    && answer.state == read.state, "\(kind) \(step): answered \(answer), read \(read)")
            #expect(answer.expiresInMs >= read.expiresInMs && answer.expiresInMs - read.expiresInMs < 1_000,
                    "\(kind) \(step): answered \(answer.expiresInMs) ms left, read \(read.expiresInMs)")
        }
        let req = ClaimRequest(task: task, holder: a, slot: Slot("2026-12-07T03:00")!, lockAtMostMs: 60_000, lockAtLeastMs: 30_000)
        guard case .claimed(let c) = try s.claims.claim(req, runId: "r1", guardrails: .none) else { Issue.record("\(kind): not claimed"); return }
        #expect(c.lockAtMostMs == 60_000 && c.lockAtLeastMs == 30_000 && c.expiresInMs > 59_000)
        try expectSameAsRead(c, "claim")
        guard case .extended(let e) = try s.claims.extend(task, runId: "r1", holder: a, lockAtMostMs: 120_000) else {
            Issue.record("\(kind): not extended"); return
        }
        #expect(e.lockAtMostMs == 120_000 && e.expiresInMs > 119_000)
        try expectSameAsRead(e, "extend")
        guard case .completed(let done) = try s.claims.complete(task, runId: "r1", holder: a, status: .succeeded) else {
            Issue.record("\(kind): not completed"); return
        }
        #expect(done.state == .completed && done.expiresInMs > 29_000 && done.expiresInMs <= 30_000)
        try expectSameAsRead(done, "complete")
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

    // MARK: - Issue 15, item 2: a call that grants nothing writes nothing; meta hashes expire

    @Test(arguments: kinds) func refusedCallsWriteNothing(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let mark = try s.writeMark()
        // Resources nobody ever used: every one of these is refused.
        for i in 0..<20 {
            let l = LeaseName("vacant-\(i)")!, t = TaskName("never-claimed-\(i)")!
            guard case .notHeld(nil) = try s.leases.renew(l, holder: a, ttlMs: 60_000, fencingToken: nil, guardrails: .none) else {
                Issue.record("\(kind): renewed a vacant lease"); return
            }
            #expect(try s.leases.release(l, holder: a, fencingToken: nil) == .vacant)
            guard case .lost(nil) = try s.claims.extend(t, runId: "r", holder: a, lockAtMostMs: 60_000, guardrails: .none) else {
                Issue.record("\(kind): extended a claim nobody had"); return
            }
            guard case .late(nil) = try s.claims.complete(t, runId: "r", holder: a, status: .succeeded) else {
                Issue.record("\(kind): completed a claim nobody had"); return
            }
            _ = try s.leases.tenure(of: l)
            _ = try s.claims.claim(of: t)
        }
        #expect(try s.resident() == 0, "\(kind): refused calls left data behind")
        #expect(try s.writeMark() == mark, "\(kind): refused calls wrote")

        // Except what fencing needs: a replica that saw the server change carries the windows
        // of what it granted, and its refused renew must leave them for every replica (a
        // replica without them would grant at once: chaos/safety.py found 3 overlaps in 30 s).
        let noted = LeaseName("vacant-noted")!
        guard case .notHeld(nil) = try s.leases.renew(noted, holder: a, ttlMs: 60_000, fencingToken: nil,
                                                      guardrails: Guardrails(carriedWindowMs: 5_000)) else {
            Issue.record("\(kind): renewed a vacant lease"); return
        }
        guard case .recovering = try s.leases.acquire(noted, holder: b, ttlMs: 60_000, guardrails: .none) else {
            Issue.record("\(kind): a carried window on a refused renew did not hold off another replica's grant"); return
        }

        // Refusals of resources in use write nothing either.
        guard case .acquired(let t, _) = try s.leases.acquire(lease, holder: a, ttlMs: 60_000, guardrails: .none),
              case .claimed(let c) = try s.claims.claim(ClaimRequest(task: task, holder: a, slot: Slot("s1"), lockAtMostMs: 60_000,
                                                                     lockAtLeastMs: 0), runId: "r1", guardrails: .none) else {
            Issue.record("\(kind): not granted"); return
        }
        let busy = try s.writeMark()
        let carried = Guardrails.none  // with a window, a refusal records it (above)
        guard case .heldByOther = try s.leases.acquire(lease, holder: b, ttlMs: 60_000, guardrails: carried),
              case .notHeld = try s.leases.renew(lease, holder: b, ttlMs: 60_000, fencingToken: nil, guardrails: carried),
              case .notHeld = try s.leases.renew(lease, holder: a, ttlMs: 60_000, fencingToken: FencingToken(t.fencingToken.value - 1),
                                                 guardrails: carried),
              case .heldByOther = try s.leases.release(lease, holder: b, fencingToken: nil),
              case .refused(.held, _) = try s.claims.claim(ClaimRequest(task: task, holder: b, slot: Slot("s2"), lockAtMostMs: 60_000,
                                                                        lockAtLeastMs: 0), runId: "r2", guardrails: carried),
              case .lost = try s.claims.extend(task, runId: "r2", holder: b, lockAtMostMs: 60_000, guardrails: carried),
              case .late = try s.claims.complete(task, runId: "r2", holder: b, status: .succeeded) else {
            Issue.record("\(kind): a refusal was not refused"); return
        }
        #expect(try s.writeMark() == busy, "\(kind): refusals of a resource in use wrote")
        _ = c
    }

    @Test(arguments: kinds) func metaHashesExpireAGracePeriodAfterTheirResource(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        let grace: Int64 = 86_400_000  // the scripts' META_GRACE_MS
        let key = "lease:\(lease.value)", taskKey = "task:\(task.value)"
        guard case .acquired(let t, _) = try s.leases.acquire(lease, holder: a, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        let afterAcquire = try #require(try s.metaTTL(key))
        #expect(afterAcquire > grace + 4_000 && afterAcquire <= grace + 5_000, "\(kind): \(afterAcquire)")
        _ = try s.leases.renew(lease, holder: a, ttlMs: 600_000, fencingToken: t.fencingToken)
        let afterRenew = try #require(try s.metaTTL(key))
        #expect(afterRenew > grace + 590_000 && afterRenew <= grace + 600_000, "\(kind): the meta hash must outlive the tenure: \(afterRenew)")
        _ = try s.leases.release(lease, holder: a, fencingToken: t.fencingToken)
        let afterRelease = try #require(try s.metaTTL(key))
        #expect(afterRelease > grace - 1_000 && afterRelease <= grace, "\(kind): \(afterRelease)")

        // A recovery window keeps it too.
        guard case .recovering = try s.leases.acquire(lease, holder: b, ttlMs: 1_000,
                                                     guardrails: Guardrails(carriedWindowMs: 900_000)) else {
            Issue.record("\(kind): the carried window was ignored"); return
        }
        let recovering = try #require(try s.metaTTL(key))
        #expect(recovering > grace + 890_000 && recovering <= grace + 900_000, "\(kind): \(recovering)")

        guard case .claimed(let c) = try s.claims.claim(ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 300_000,
                                                                     lockAtLeastMs: 120_000), runId: "r1", guardrails: .none) else {
            Issue.record("\(kind): not claimed"); return
        }
        let claimed = try #require(try s.metaTTL(taskKey))
        #expect(claimed > grace + 290_000 && claimed <= grace + 300_000, "\(kind): \(claimed)")
        _ = try s.claims.complete(task, runId: c.runId, holder: a, status: .succeeded)
        let completed = try #require(try s.metaTTL(taskKey))
        #expect(completed > grace + 110_000 && completed <= grace + 120_000, "\(kind): kept while the completed claim is: \(completed)")
    }

    /// The holder's renewal through acquire (the call every replica makes most, answered by
    /// its own first part of the script) keeps the meta hash and the windows as the rest of
    /// the script does: the hash outlives the tenure, a carried window reaches
    /// `recover_until` and holds off the next holder, and an earlier window is kept.
    @Test(arguments: kinds) func aHolderRenewingThroughAcquireKeepsTheMetaHashAndTheWindows(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        try holderRenewalKeepsTheMetaHashAndTheWindows(s, kind) { ttlMs, rails, _ in
            guard case .renewed(let t) = try s.leases.acquire(lease, holder: a, ttlMs: ttlMs, guardrails: rails) else { return nil }
            return t
        }
    }

    /// The same through `renew` (`POST /lease/renew`), whose script also answers the holder
    /// before the rest of the shared Lua is defined, with and without a fencing token.
    @Test(arguments: kinds) func aHolderRenewingThroughRenewKeepsTheMetaHashAndTheWindows(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        try holderRenewalKeepsTheMetaHashAndTheWindows(s, kind) { ttlMs, rails, token in
            guard case .renewed(let t) = try s.leases.renew(lease, holder: a, ttlMs: ttlMs, fencingToken: token,
                                                            guardrails: rails) else { return nil }
            return t
        }
    }

    /// Acquires for `a` (5 s), then renews through `renewal` (ttl, guardrails, the tenure's
    /// token or nil; nil when not renewed) and checks the meta hash's expiry after each step.
    private func holderRenewalKeepsTheMetaHashAndTheWindows(
        _ s: StoreHarness, _ kind: String,
        renewal: (Int, Guardrails, FencingToken?) throws -> Tenure?
    ) throws {
        let grace: Int64 = 86_400_000  // the scripts' META_GRACE_MS
        let key = "lease:\(lease.value)"
        guard case .acquired(let t, _) = try s.leases.acquire(lease, holder: a, ttlMs: 5_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        guard let longer = try renewal(600_000, .none, nil) else {
            Issue.record("\(kind): not renewed"); return
        }
        #expect(longer.fencingToken == t.fencingToken && longer.ttlMs == 600_000 && longer.acquiredAtMs == t.acquiredAtMs)
        let afterRenew = try #require(try s.metaTTL(key))
        #expect(afterRenew > grace + 590_000 && afterRenew <= grace + 600_000, "\(kind): the meta hash must outlive the tenure: \(afterRenew)")

        // A carried window longer than the tenure: still a renewal, and the window is the store's.
        guard let carried = try renewal(1_000, Guardrails(carriedWindowMs: 900_000), t.fencingToken) else {
            Issue.record("\(kind): a carried window refused the holder's renewal"); return
        }
        #expect(carried.fencingToken == t.fencingToken && carried.ttlMs == 1_000)
        let afterCarried = try #require(try s.metaTTL(key))
        #expect(afterCarried > grace + 890_000 && afterCarried <= grace + 900_000, "\(kind): \(afterCarried)")

        // Renewing with nothing carried keeps the window set before.
        guard try renewal(1_000, .none, nil) != nil else {
            Issue.record("\(kind): not renewed"); return
        }
        let kept = try #require(try s.metaTTL(key))
        #expect(kept > grace + 800_000 && kept <= grace + 900_000, "\(kind): the earlier window was dropped: \(kept)")
        guard case .released = try s.leases.release(lease, holder: a, fencingToken: t.fencingToken) else {
            Issue.record("\(kind): not released"); return
        }
        guard case .recovering(let wait) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): the carried window did not hold off the next holder"); return
        }
        #expect(wait > 800_000 && wait <= 900_000, "\(kind): \(wait)")
    }

    /// Fencing survives the expiry: with the meta hash gone, the counter restarts at the
    /// clock in µs (as after a Redis restart without data), above every earlier token.
    @Test(arguments: kinds) func tokensStillGrowAfterAMetaHashExpired(_ kind: String) throws {
        let s = try StoreHarness.make(kind)
        guard case .acquired(let first, _) = try s.leases.acquire(lease, holder: a, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        _ = try s.leases.release(lease, holder: a, fencingToken: first.fencingToken)
        guard case .acquired(let second, _) = try s.leases.acquire(lease, holder: b, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired"); return
        }
        #expect(second.fencingToken.value == first.fencingToken.value + 1)
        _ = try s.leases.release(lease, holder: b, fencingToken: second.fencingToken)
        guard case .claimed(let c1) = try s.claims.claim(ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 1_000,
                                                                      lockAtLeastMs: 0), runId: "r1", guardrails: .none) else {
            Issue.record("\(kind): not claimed"); return
        }
        _ = try s.claims.complete(task, runId: c1.runId, holder: a, status: .succeeded)
        try s.expireMeta("lease:\(lease.value)")
        try s.expireMeta("task:\(task.value)")
        #expect(try s.resident() == 0, "\(kind): something outlived its meta hash")
        #expect(try s.leases.knownLeases().isEmpty)
        guard case .acquired(let third, let previous) = try s.leases.acquire(lease, holder: a, ttlMs: 1_000, guardrails: .none) else {
            Issue.record("\(kind): not acquired after the expiry"); return
        }
        #expect(third.fencingToken.value > second.fencingToken.value && previous == nil)
        guard case .claimed(let c2) = try s.claims.claim(ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 1_000,
                                                                      lockAtLeastMs: 0), runId: "r2", guardrails: .none) else {
            Issue.record("\(kind): not claimed after the expiry"); return
        }
        #expect(c2.fencingToken.value > c1.fencingToken.value)
    }
}
