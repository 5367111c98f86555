import BatonCore
import BatonSupport
import BatonTestSupport
import Synchronization
import Testing

/// A grant answered while another worker switched Redis server is voided, and a renewal of
/// a tenure whose acquire went unanswered is recorded first (issue 13, the TCP-proxy case;
/// the end-to-end run is chaos/proxy.py in `TCPProxySplitTests`).
@Suite struct ServerSwitchTests {
    let clock = ManualClock()
    let lease = LeaseName("scheduler")!
    let a = Holder("pod-a")!

    /// Two ``InMemoryStore`` servers behind one address (a proxy): calls go to `current`;
    /// `during` runs inside each grant, as another worker thread reaching a new server while
    /// this call is on the old one.
    final class TwoServers: LeaseStore {
        let servers: [InMemoryStore]
        let current = Mutex(0)
        let during = Mutex<(@Sendable () -> Void)?>(nil)
        init(clock: ManualClock) { servers = [InMemoryStore(clock: clock), InMemoryStore(clock: clock)] }
        var inner: InMemoryStore { servers[current.withLock { $0 }] }
        private func hook() { during.withLock { $0 }?() }
        func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult {
            let r = try inner.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: guardrails)
            hook()
            return r
        }
        func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?, guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
            let r = try inner.renew(lease, holder: holder, ttlMs: ttlMs, fencingToken: fencingToken, guardrails: guardrails)
            hook()
            return r
        }
        func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
            try inner.release(lease, holder: holder, fencingToken: fencingToken)
        }
        func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? { try inner.tenure(of: lease) }
        func knownLeases() throws(BackendError) -> [LeaseName] { try inner.knownLeases() }
    }

    @Test func aGrantAnsweredWhileTheServerSwitchedIsVoidedAndStillRecorded() throws {
        let store = TwoServers(clock: clock)
        let floor = DurableFencingFloor(clock: clock)
        let history = RecordingHistory()
        let e = LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                               history: history, fencingFloor: floor, clock: clock)
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged() } } }
        guard case .recovering(_, let retry) = e.acquire(lease, holder: a, ttlMs: 3_000) else {
            Issue.record("a grant made while the server switched was answered as a grant")
            return
        }
        #expect(retry == 3_000)
        // Voided where it was made, and in the history (the server left may keep it).
        #expect(try store.inner.tenure(of: lease) == nil)
        #expect(history.recorded.contains { if case .tenureStarted(let t) = $0 { return t.holder == a } else { return false } })
        // A renewal answered across a switch is refused too.
        store.during.withLock { $0 = nil }
        clock.advance(ms: 3_001)
        let token = try #require(e.acquire(lease, holder: a, ttlMs: 3_000).value?.fencingToken)
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged() } } }
        guard case .conflict = e.renew(lease, holder: a, ttlMs: 3_000, fencingToken: token) else {
            Issue.record("a renewal made while the server switched was answered as renewed")
            return
        }
        // A Cluster shard's change does not void other shards' grants.
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged(fencingGrantsInFlight: false) } } }
        clock.advance(ms: 3_001)
        #expect(e.acquire(lease, holder: a, ttlMs: 3_000).value?.acquired == true)
    }

    /// Another worker thread reaching a new server while this call is on the old one (the
    /// store calls `storeChanged` on the thread that noticed it).
    static func onAnotherWorker(_ body: @escaping @Sendable () -> Void) {
        let done = WakeSignal()
        BackgroundThread.start(name: "other-worker") {
            body()
            done.signal()
        }
        #expect(done.wait(timeoutMs: 5_000))
    }
    func onAnotherWorker(_ body: @escaping @Sendable () -> Void) { Self.onAnotherWorker(body) }

    /// The thread that noticed the new server itself sends its command there: its answer
    /// stands. Voiding it refused the first claim after every Redis restart, and the slot
    /// was skipped (TaskHTTPTests.aSlotCompletedBeforeRedisForgotStaysDone).
    @Test func theCallThatReachedTheNewServerItselfIsNotVoided() {
        let leases = TwoServers(clock: clock)
        let floor = DurableFencingFloor(clock: clock)
        let e = LeaderElection(store: leases, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                               history: RecordingHistory(), fencingFloor: floor, clock: clock)
        leases.during.withLock { $0 = { floor.storeChanged() } }  // on this call's own thread
        #expect(e.acquire(lease, holder: a, ttlMs: 3_000).value?.acquired == true)
        let claims = SwitchingClaims(clock: clock)
        let tasks = TaskCoordinator(store: claims, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                    history: RecordingHistory(), fencingFloor: floor, clock: clock)
        claims.during.withLock { $0 = { floor.storeChanged() } }
        let request = ClaimRequest(task: TaskName("scan")!, holder: a, slot: nil, lockAtMostMs: 5_000, lockAtLeastMs: 0)
        #expect(tasks.claim(request).value?.claimed == true)
        // Still voided when another worker switched after this thread did.
        claims.during.withLock { $0 = { floor.storeChanged(); onAnotherWorker { floor.storeChanged() } } }
        guard case .recovering = tasks.claim(ClaimRequest(task: TaskName("other")!, holder: a, slot: nil, lockAtMostMs: 5_000,
                                                         lockAtLeastMs: 0)) else {
            Issue.record("a switch by another worker after this thread's own was not seen"); return
        }
    }

    @Test func aRenewalOfATenureWhoseAcquireWentUnansweredIsRecordedFirst() throws {
        let store = TwoServers(clock: clock)
        let history = RecordingHistory()
        let unknown = UnknownOutcomes(clock: clock)
        let e = LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                               history: history, clock: clock, unknownOutcomes: unknown)
        // The acquire ran on server 0 and its answer was lost; batond then moved to server 1,
        // where the reconciliation finds nothing.
        _ = try store.servers[0].acquire(lease, holder: a, ttlMs: 3_000) { .none }
        let tenure = try #require(try store.servers[0].tenure(of: lease))
        unknown.add(.lease(lease), who: a.value, ttlMs: 3_000)
        store.current.withLock { $0 = 1 }
        #expect(e.reconcileUnknownOutcomes() == 0 && unknown.count == 1)
        // The proxy routes back to server 0 and the holder asks again: "renewed", so the
        // tenure must be in the history first.
        store.current.withLock { $0 = 0 }
        #expect(e.acquire(lease, holder: a, ttlMs: 3_000).value?.fencingToken == tenure.fencingToken)
        #expect(history.recorded.contains { if case .tenureStarted(let t) = $0 { return t.fencingToken == tenure.fencingToken } else { return false } })
        #expect(unknown.count == 0)
    }

    /// One ``InMemoryStore`` whose claims and extensions run `during` before they answer,
    /// as another worker reaching a new server while this call is on the old one.
    final class SwitchingClaims: ClaimStore {
        let inner: InMemoryStore
        let during = Mutex<(@Sendable () -> Void)?>(nil)
        init(clock: ManualClock) { inner = InMemoryStore(clock: clock) }
        private func hook() { during.withLock { $0 }?() }
        func claim(_ request: ClaimRequest, runId: String, guardrails: () -> Guardrails) throws(BackendError) -> ClaimResult {
            let r = try inner.claim(request, runId: runId, guardrails: guardrails)
            hook()
            return r
        }
        func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int,
                    guardrails: () -> Guardrails) throws(BackendError) -> ExtendResult {
            let r = try inner.extend(task, runId: runId, holder: holder, lockAtMostMs: lockAtMostMs, guardrails: guardrails)
            hook()
            return r
        }
        func complete(_ task: TaskName, runId: String, holder: Holder, status: RunStatus) throws(BackendError) -> CompleteResult {
            try inner.complete(task, runId: runId, holder: holder, status: status)
        }
        func claim(of task: TaskName) throws(BackendError) -> TaskClaim? { try inner.claim(of: task) }
        func knownTasks() throws(BackendError) -> [TaskName] { try inner.knownTasks() }
        func void(_ task: TaskName, runId: String) throws(BackendError) -> Bool { try inner.void(task, runId: runId) }
    }

    /// Run-once claims get what tenures get: a claim answered across a switch may sit on the
    /// server just left while the new one lets another replica claim the task.
    @Test func aClaimAnsweredWhileTheServerSwitchedIsVoidedAndClosedInTheHistory() throws {
        let store = SwitchingClaims(clock: clock)
        let floor = DurableFencingFloor(clock: clock)
        let history = RecordingHistory()
        let tasks = TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                    history: history, fencingFloor: floor, clock: clock)
        let task = TaskName("scan")!
        let request = ClaimRequest(task: task, holder: a, slot: nil, lockAtMostMs: 5_000, lockAtLeastMs: 0)
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged() } } }
        guard case .recovering(_, let retry) = tasks.claim(request) else {
            Issue.record("a claim made while the server switched was answered as claimed")
            return
        }
        #expect(retry == 5_000)
        #expect(try store.inner.claim(of: task) == nil, "the claim was not voided where it was made")
        let rows = history.recorded.compactMap { if case .run(let r) = $0 { return r } else { return nil } }
        #expect(rows.map(\.status) == [.running, .cancelled], "the history keeps a row nobody will finish")
        // An extension answered across a switch tells the run it lost its claim.
        store.during.withLock { $0 = nil }
        clock.advance(ms: 5_001)
        guard case .ok(let claimed) = tasks.claim(request), let runId = claimed.runId else {
            Issue.record("no claim once the window passed"); return
        }
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged() } } }
        guard case .conflict = tasks.extend(task, runId: runId, holder: a, lockAtMostMs: 5_000) else {
            Issue.record("an extension made while the server switched was answered as extended")
            return
        }
        // A Cluster shard's change does not void claims elsewhere.
        store.during.withLock { $0 = { onAnotherWorker { floor.storeChanged(fencingGrantsInFlight: false) } } }
        guard case .ok = tasks.extend(task, runId: runId, holder: a, lockAtMostMs: 5_000) else {
            Issue.record("a shard's change voided an extension"); return
        }
    }

    /// A store that answers later, as the Redis pipeline does: the command is framed (its
    /// guardrails asked) on the calling thread, and answered on another one, the pipeline's
    /// reader, which first runs `onReader`.
    final class AnsweredElsewhere: LeaseStore {
        let inner: InMemoryStore
        let beforeFraming = Mutex<(@Sendable () -> Void)?>(nil)
        let onReader = Mutex<(@Sendable () -> Void)?>(nil)
        init(clock: ManualClock) { inner = InMemoryStore(clock: clock) }
        var answersLater: Bool { true }
        func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: @escaping @Sendable () -> Guardrails,
                     completion: @escaping @Sendable (Result<AcquireResult, BackendError>) -> Void) {
            beforeFraming.withLock { $0 }?()
            let rails = guardrails()
            let (inner, reader) = (inner, onReader.withLock { $0 })
            ServerSwitchTests.onAnotherWorker {
                reader?()
                completion(Result { () throws(BackendError) in try inner.acquire(lease, holder: holder, ttlMs: ttlMs) { rails } })
            }
        }
        func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult {
            try inner.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: guardrails)
        }
        func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?, guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
            try inner.renew(lease, holder: holder, ttlMs: ttlMs, fencingToken: fencingToken, guardrails: guardrails)
        }
        func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
            try inner.release(lease, holder: holder, fencingToken: fencingToken)
        }
        func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? { try inner.tenure(of: lease) }
        func knownLeases() throws(BackendError) -> [LeaseName] { try inner.knownLeases() }
    }

    /// A pipelined grant is judged where its command was framed, then strictly: the reader
    /// thread that answers may itself have reached a new server (its blocking fallback) after
    /// the command went to the old one. Judged on the reader by the per-thread rule, that
    /// answer stood (ChaosSafetyTests with BATON_REDIS_PIPELINE=on: 14 overlapping tenures).
    @Test func aPipelinedGrantIsJudgedWhereItWasFramedNotWhereItWasAnswered() {
        let store = AnsweredElsewhere(clock: clock)
        let floor = DurableFencingFloor(clock: clock)
        let e = LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                               history: RecordingHistory(), fencingFloor: floor, clock: clock)
        func acquire(_ lease: LeaseName) -> Decision<LeaseView>? {
            let answer = Mutex<Decision<LeaseView>?>(nil)
            e.acquire(lease, holder: a, ttlMs: 3_000) { d in answer.withLock { $0 = d } }
            return answer.withLock { $0 }
        }
        // The reader reaches the new server itself, after this command went to the old one.
        store.onReader.withLock { $0 = { floor.storeChanged() } }
        guard case .recovering = acquire(LeaseName("one")!) else {
            Issue.record("a grant from the server the reader had left was answered as a grant"); return
        }
        // The thread that framed the command reached the new server itself first: it stands.
        store.onReader.withLock { $0 = nil }
        store.beforeFraming.withLock { $0 = { floor.storeChanged() } }
        #expect(acquire(LeaseName("two")!)?.value?.acquired == true)
        // Another worker switched after this thread did, before the command was framed.
        store.beforeFraming.withLock { $0 = { floor.storeChanged(); onAnotherWorker { floor.storeChanged() } } }
        guard case .recovering = acquire(LeaseName("three")!) else {
            Issue.record("a switch by another worker before framing was not seen"); return
        }
        // No switch at all: a plain grant.
        store.beforeFraming.withLock { $0 = nil }
        #expect(acquire(LeaseName("four")!)?.value?.acquired == true)
    }
}
