import BatonCore
import BatonTestSupport
import Synchronization
import Testing

@Suite struct LeaderElectionTests {
    let clock = ManualClock()
    let store: InMemoryStore
    let history = RecordingHistory()
    let lease = LeaseName("scheduler")!
    let a = Holder("pod-a")!
    let b = Holder("pod-b")!

    init() { store = InMemoryStore(clock: clock) }

    /// `a` acquires with a 10 s TTL and renews 4 s later: it believes it leads for 10 s
    /// more. Returns its fencing token.
    func aLeadsForTenSecondsMore(_ e: LeaderElection) -> Int64 {
        let token = e.acquire(lease, holder: a, ttlMs: 10_000).value?.fencingToken?.value ?? 0
        clock.advance(ms: 4_000)
        _ = e.renew(lease, holder: a, ttlMs: 10_000, fencingToken: nil)
        return token
    }

    /// An election with a fencing floor (and a breaker with the default threshold).
    func election(floor: any FencingFloor, store: InMemoryStore? = nil) -> LeaderElection {
        LeaderElection(store: store ?? self.store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                       history: history, fencingFloor: floor, clock: clock)
    }

    func election(policy: FailurePolicy = .grant, threshold: Int = 3) -> LeaderElection {
        LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, threshold: threshold, cooldownMs: 5_000, clock: clock),
                       defaultPolicy: policy, history: history, clock: clock)
    }

    @Test func firstCallerLeadsAndTheSecondSeesTheLeader() {
        let e = election()
        guard case .ok(let first) = e.acquire(lease, holder: a, ttlMs: 10_000) else { Issue.record("a did not lead"); return }
        #expect(first.leader && first.acquired && first.fencingToken != nil && first.mode == .normal)
        guard case .conflict(let second) = e.acquire(lease, holder: b, ttlMs: 10_000) else { Issue.record("b was not refused"); return }
        #expect(second.holder == a && !second.leader && second.fencingToken == first.fencingToken)
    }

    @Test func holderCallingAgainRenewsTheSameTenure() {
        let e = election()
        let first = e.acquire(lease, holder: a, ttlMs: 10_000).value?.fencingToken
        clock.advance(ms: 9_000)
        guard case .ok(let again) = e.acquire(lease, holder: a, ttlMs: 10_000) else { Issue.record("renewal refused"); return }
        #expect(!again.acquired && again.fencingToken == first && first != nil && again.expiresInMs == 10_000)
    }

    @Test func expiryHandsOverWithALargerFencingToken() {
        let e = election()
        let first = e.acquire(lease, holder: a, ttlMs: 1_000).value?.fencingToken?.value ?? 0
        clock.advance(ms: 1_001)
        guard case .ok(let view) = e.acquire(lease, holder: b, ttlMs: 1_000) else { Issue.record("b did not take over"); return }
        #expect(view.holder == b && view.fencingToken?.value == first + 1)
        guard case .conflict = e.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else { Issue.record("a renewed after losing"); return }
    }

    @Test func renewNeverReacquires() {
        let e = election()
        guard case .conflict(let v) = e.renew(lease, holder: a, ttlMs: 1_000, fencingToken: nil) else { Issue.record("renew acquired"); return }
        #expect(v.holder == nil && !v.leader)
        guard case .ok(let s) = e.state(lease) else { Issue.record("state failed"); return }
        #expect(s.holder == nil)
    }

    @Test func renewWithAStaleFencingTokenIsRefused() {
        let e = election()
        let old = e.acquire(lease, holder: a, ttlMs: 1_000).value?.fencingToken
        _ = e.release(lease, holder: a, fencingToken: nil)
        let current = e.acquire(lease, holder: a, ttlMs: 1_000).value?.fencingToken  // a new tenure
        guard case .conflict(let stale) = e.renew(lease, holder: a, ttlMs: 1_000, fencingToken: old) else {
            Issue.record("stale tenure renewed"); return
        }
        #expect(!stale.leader && stale.holder == a && old != current)
        guard case .ok = e.renew(lease, holder: a, ttlMs: 1_000, fencingToken: current) else { Issue.record("current tenure refused"); return }
    }

    @Test func releaseLetsAnotherHolderAcquireAtOnce() {
        let e = election()
        let first = e.acquire(lease, holder: a, ttlMs: 60_000).value?.fencingToken?.value ?? 0
        guard case .conflict(let r) = e.release(lease, holder: b, fencingToken: nil) else { Issue.record("b released a's lease"); return }
        #expect(!r.released)
        guard case .ok(let done) = e.release(lease, holder: a, fencingToken: nil) else { Issue.record("release refused"); return }
        #expect(done.released)
        guard case .ok(let again) = e.release(lease, holder: a, fencingToken: nil) else { Issue.record("second release refused"); return }
        #expect(!again.released)
        guard case .ok(let view) = e.acquire(lease, holder: b, ttlMs: 1_000) else { Issue.record("b could not acquire"); return }
        #expect(view.fencingToken?.value == first + 1)
    }

    @Test func historyRecordsNewTenuresAndReleasesOnly() {
        let e = election()
        let first = e.acquire(lease, holder: a, ttlMs: 1_000).value?.fencingToken
        _ = e.acquire(lease, holder: a, ttlMs: 1_000)
        _ = e.acquire(lease, holder: b, ttlMs: 1_000)
        _ = e.release(lease, holder: a, fencingToken: nil)
        let events = history.recorded
        #expect(events.count == 2)
        guard case .tenureStarted(let t) = events.first, case .tenureEnded(let ended, _, .released) = events.last else {
            Issue.record("unexpected history \(events)"); return
        }
        #expect(t.holder == a && ended.fencingToken == first)
    }

    @Test func failuresGive503UntilTheBreakerOpensThenPolicyDecides() {
        let e = election(policy: .grant)
        store.failing = true
        guard case .unavailable = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("1st failure not 503"); return }
        guard case .unavailable = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("2nd failure not 503"); return }
        guard case .ok(let third) = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("3rd failure not degraded"); return }
        #expect(third.mode == .degraded && third.fencingToken == nil && third.leader)
        // Both pods are told to go ahead: duplicate work beats no work.
        guard case .ok(let other) = e.acquire(lease, holder: b, ttlMs: 1_000) else { Issue.record("b not granted"); return }
        #expect(other.mode == .degraded && other.holder == b)
        #expect(store.calls == 3)  // the open breaker keeps calls away from the store
        // Per-request override.
        guard case .unavailable = e.acquire(lease, holder: a, ttlMs: 1_000, policy: .deny) else { Issue.record("deny override ignored"); return }
        // Reads have no fallback.
        guard case .unavailable = e.state(lease) else { Issue.record("read answered while open"); return }
    }

    @Test func denyPolicyKeepsAnswering503AndRecovers() {
        let e = election(policy: .deny, threshold: 1)
        store.failing = true
        guard case .unavailable = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("not 503"); return }
        guard case .unavailable = e.acquire(lease, holder: a, ttlMs: 1_000, policy: nil) else { Issue.record("not 503"); return }
        guard case .ok(let granted) = e.acquire(lease, holder: a, ttlMs: 1_000, policy: .grant) else { Issue.record("grant override ignored"); return }
        #expect(granted.mode == .degraded)
        store.failing = false
        clock.advance(ms: 5_000)
        guard case .ok(let normal) = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("did not recover"); return }
        #expect(normal.mode == .normal && normal.fencingToken != nil)
    }

    /// Redis forgets everything and comes back with a clock behind the one that issued the
    /// earlier tokens (a failover to a replica whose clock is a minute slow): the counter's
    /// jump to the clock in µs lands below them, so only the floor keeps tokens growing.
    /// (With one shared clock the jump alone would pass this test, floor or not.)
    @Test func fencingFloorKeepsTokensGrowingAfterAmnesia() {
        let redisClock = ManualClock()
        let store = InMemoryStore(clock: redisClock)
        let floor = DurableFencingFloor(clock: clock)
        let e = election(floor: floor, store: store)
        var last: Int64 = 0
        for _ in 0..<3 {
            last = e.acquire(lease, holder: a, ttlMs: 1_000).value?.fencingToken?.value ?? 0
            _ = e.release(lease, holder: a, fencingToken: nil)
        }
        clock.advance(ms: 1_000)  // every earlier tenure has run out: no recovery window left
        redisClock.advance(ms: 1_000 - 60_000)
        store.amnesia()
        guard case .ok(let v) = e.acquire(lease, holder: b, ttlMs: 1_000) else { Issue.record("acquire failed"); return }
        #expect(last > 0)
        #expect((v.fencingToken?.value ?? 0) > last)
    }

    /// Clients name the leases: the floor must not grow with every name ever used, and
    /// forgetting a name must not let its tokens go back after an amnesia.
    @Test func theFloorIsBoundedAndADroppedLeaseStillGetsAHigherToken() {
        let redisClock = ManualClock()
        let store = InMemoryStore(clock: redisClock)
        let floor = DurableFencingFloor(clock: clock, capacity: 10)
        let e = election(floor: floor, store: store)
        let held = LeaseName("held")!
        _ = e.acquire(held, holder: a, ttlMs: 600_000)  // a window still open: never dropped
        var last: [LeaseName: Int64] = [:]
        for i in 0..<40 {
            let name = LeaseName("lease-\(i)")!
            for _ in 0..<3 {
                last[name] = e.acquire(name, holder: a, ttlMs: 1_000).value?.fencingToken?.value ?? 0
                _ = e.release(name, holder: a, fencingToken: nil)
            }
            clock.advance(ms: 1)
        }
        #expect(floor.trackedResources <= 10)
        clock.advance(ms: 1_000)
        redisClock.advance(ms: 1_000 - 60_000)  // the store's own counter restarts low
        store.amnesia()
        guard case .recovering = e.acquire(held, holder: b, ttlMs: 1_000) else {
            Issue.record("the open window of a live tenure was dropped"); return
        }
        for (name, token) in last.sorted(by: { $0.key.value < $1.key.value }) {
            guard case .ok(let v) = e.acquire(name, holder: b, ttlMs: 1_000) else { Issue.record("\(name.value): not granted"); continue }
            #expect((v.fencingToken?.value ?? 0) > token, "\(name.value): token went back")
        }
    }

    @Test func amnesiaWhileATenureMayBeLiveOpensARecoveryWindow() {
        let floor = DurableFencingFloor(clock: clock)
        let e = election(floor: floor)
        let first = aLeadsForTenSecondsMore(e)
        store.amnesia()
        guard case .recovering(let v, let retry) = e.acquire(lease, holder: b, ttlMs: 10_000) else {
            Issue.record("b acquired while a may still believe it leads"); return
        }
        #expect(v.reason == .recovering && v.holder == nil && retry == 10_000)
        guard case .conflict = e.renew(lease, holder: a, ttlMs: 10_000, fencingToken: nil) else {
            Issue.record("a renewed a tenure Redis forgot"); return
        }
        clock.advance(ms: 9_999)
        guard case .recovering = e.acquire(lease, holder: b, ttlMs: 10_000) else { Issue.record("window ended early"); return }
        clock.advance(ms: 1)
        guard case .ok(let granted) = e.acquire(lease, holder: b, ttlMs: 10_000) else { Issue.record("window did not end"); return }
        #expect((granted.fencingToken?.value ?? 0) > first)
    }

    @Test func theFloorComesFromDurableHistoryOnce() {
        // Another replica handed out tokens above this store's counter (and clock).
        let reader = FixedHistory(rails: Guardrails(floor: 4_000_000_000_000_000, recoveryWindowMs: 0))
        let floor = DurableFencingFloor(history: reader, clock: clock)
        let e = election(floor: floor)
        guard case .ok(let v) = e.acquire(lease, holder: a, ttlMs: 1_000) else { Issue.record("acquire failed"); return }
        #expect(v.fencingToken == FencingToken(4_000_000_000_000_001))
        _ = e.release(lease, holder: a, fencingToken: nil)
        _ = e.acquire(lease, holder: a, ttlMs: 1_000)
        #expect(reader.reads == 1)
    }

    @Test func aChangeOfRedisServerCarriesWhatThisProcessGranted() {
        let floor = DurableFencingFloor(clock: clock)
        let e = election(floor: floor)
        let first = aLeadsForTenSecondsMore(e)
        store.changeServer()  // a restart from disk: the data is there, but may be behind
        floor.storeChanged()  // what batond does when a connection finds a new run_id
        guard case .conflict = e.renew(lease, holder: a, ttlMs: 10_000, fencingToken: nil) else {
            Issue.record("a tenure of the earlier server was renewed"); return
        }
        guard case .recovering(_, let retry) = e.acquire(lease, holder: b, ttlMs: 10_000) else {
            Issue.record("b acquired while a may still believe it leads"); return
        }
        #expect(retry == 10_000)
        clock.advance(ms: 10_000)
        guard case .ok(let granted) = e.acquire(lease, holder: b, ttlMs: 10_000) else { Issue.record("window did not end"); return }
        #expect((granted.fencingToken?.value ?? 0) > first)
        // Tenures granted under the new server are not carried: a release hands over at once.
        _ = e.release(lease, holder: b, fencingToken: nil)
        guard case .ok = e.acquire(lease, holder: a, ttlMs: 10_000) else { Issue.record("a new server's tenure was carried"); return }
    }

    @Test func aReleasedTenureIsNotCarriedIntoANewRedisServer() {
        let floor = DurableFencingFloor(clock: clock)
        let e = election(floor: floor)
        _ = e.acquire(lease, holder: a, ttlMs: 60_000)
        _ = e.release(lease, holder: a, fencingToken: nil)
        store.changeServer()
        floor.storeChanged()
        guard case .ok = e.acquire(lease, holder: b, ttlMs: 1_000) else { Issue.record("a released tenure held the lease"); return }
    }

    @Test func afterAServerChangeTheHistoryIsReadAgainAndCarried() {
        let reader = FixedHistory(rails: Guardrails(floor: 0, recoveryWindowMs: 8_000))
        let floor = DurableFencingFloor(history: reader, clock: clock)
        let before = floor.guardrails(for: .lease(lease))
        // Before any change the history only guards a store that turns out to have forgotten.
        #expect(before.recoveryWindowMs == 8_000 && before.carriedWindowMs == 0 && reader.reads == 1)
        floor.storeChanged()
        clock.advance(ms: 1_000)
        let after = floor.guardrails(for: .lease(lease))
        // Counted from the change: a tenure in the history was last renewed before it.
        #expect(reader.reads == 2 && after.carriedWindowMs == 7_000 && after.recoveryWindowMs == 8_000)
        clock.advance(ms: 8_000)
        // A resource first asked about after the earlier server's grants have run out.
        let late = floor.guardrails(for: .task(TaskName("Scan")!))
        #expect(reader.reads == 3 && late.carriedWindowMs == 0 && late.recoveryWindowMs == 8_000)
        #expect(floor.guardrails(for: .lease(lease)).carriedWindowMs == 0)
    }
}

final class FixedHistory: HistoryReader {
    let rails: Guardrails
    private let count = Mutex(0)
    init(rails: Guardrails) { self.rails = rails }
    var reads: Int { count.withLock { $0 } }
    func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] { [] }
    func lastRuns() throws(BackendError) -> [TaskName: RunRecord] { [:] }
    func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] { [] }
    func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? { nil }
    func guardrails(for resource: Resource) throws(BackendError) -> Guardrails {
        count.withLock { $0 += 1 }
        return rails
    }
}
