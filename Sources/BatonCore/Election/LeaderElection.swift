public import BatonSupport
/// Leader election over a ``LeaseStore``: the rules of `/leader` and `/lease/*`.
///
/// Every call is one atomic store step guarded by the Redis breaker. While the breaker
/// is closed a failing store gives 503 (the caller retries); once it is open the
/// ``FailurePolicy`` decides: `grant` answers "you lead" in degraded mode with no fencing
/// token, `deny` keeps answering 503.
public final class LeaderElection: Sendable {
    public let store: any LeaseStore
    public let breaker: CircuitBreaker
    /// Per-shard breakers when the store has shards (``LeaseStore/failureDomain(of:)``);
    /// ``breaker`` is their primary.
    public let breakers: BreakerDomains
    public let defaultPolicy: FailurePolicy
    public let history: any HistoryRecorder
    public let fencingFloor: any FencingFloor
    public let events: any CoordinationEvents
    public let clock: any Clock
    /// Acquires sent without an answer (see ``UnknownOutcomes``).
    public let unknownOutcomes: UnknownOutcomes

    public init(store: any LeaseStore, breaker: CircuitBreaker, defaultPolicy: FailurePolicy,
                history: any HistoryRecorder, fencingFloor: any FencingFloor = NoFencingFloor(),
                events: any CoordinationEvents = NoEvents(), clock: any Clock = SystemClock(),
                unknownOutcomes: UnknownOutcomes = UnknownOutcomes(), breakers: BreakerDomains? = nil) {
        self.unknownOutcomes = unknownOutcomes
        self.store = store
        self.breaker = breakers?.primary ?? breaker
        self.breakers = breakers ?? BreakerDomains(primary: breaker)
        self.defaultPolicy = defaultPolicy
        self.history = history
        self.fencingFloor = fencingFloor
        self.events = events
        self.clock = clock
    }

    /// `POST /leader`: acquire, or renew when the caller already holds the lease.
    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, policy: FailurePolicy? = nil) -> Decision<LeaseView> {
        let floor = fencingFloor
        let rails = { floor.guardrails(for: .lease(lease)) }
        let switches = fencingFloor.serverSwitches
        let outcome = breaker(for: lease).run({ () throws(BackendError) in try store.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: rails) })
        return decide(outcome, lease, holder, ttlMs, policy) { floor.switchedUnderneath(since: switches) }
    }

    /// Whether ``acquire(_:holder:ttlMs:policy:completion:)`` answers without holding the
    /// calling thread while the store works (see ``LeaseStore/answersLater``).
    public var answersLater: Bool { store.answersLater }

    /// ``acquire(_:holder:ttlMs:policy:)`` with its decision given to `completion`, on the
    /// thread that has the store's answer: the same breaker, floor and fallback rules, in
    /// two halves around the store's call. A change of server is judged where the command is
    /// framed and strictly after (``SwitchWitness``), not on the thread that answers.
    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, policy: FailurePolicy? = nil,
                        completion: @escaping @Sendable (Decision<LeaseView>) -> Void) {
        let breaker = breaker(for: lease)
        let floor = fencingFloor
        let witness = SwitchWitness(floor)
        guard let call = breaker.start() else {
            completion(decide(.rejected, lease, holder, ttlMs, policy) { false })
            return
        }
        let rails: @Sendable () -> Guardrails = {
            witness.framed(floor)
            return floor.guardrails(for: .lease(lease))
        }
        store.acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: rails) { result in
            completion(self.decide(breaker.finish(call, result), lease, holder, ttlMs, policy) { witness.switchedUnderneath(floor) })
        }
    }

    /// What an acquire's outcome means for the caller.
    private func decide(_ outcome: CircuitBreaker.Outcome<AcquireResult>, _ lease: LeaseName, _ holder: Holder, _ ttlMs: Int,
                        _ policy: FailurePolicy?, switchedUnderneath: () -> Bool) -> Decision<LeaseView> {
        switch outcome {
        case .success(.acquired(let tenure, let previous)):
            fencingFloor.observe(tenure.fencingToken, ttlMs: ttlMs, for: .lease(lease))
            // In the history even when voided below: the server may keep it.
            history.record(.tenureStarted(TenureRecord(lease: lease, tenure: tenure)))
            if let refused = voidIfServerSwitched(lease, tenure, switchedUnderneath(), ttlMs: ttlMs) { return refused }
            events.leaseAcquired(lease, transition: previous != holder)
            return .ok(LeaseView(lease: lease, tenure: tenure, caller: holder, acquired: true))
        case .success(.renewed(let tenure)):
            fencingFloor.observe(tenure.fencingToken, ttlMs: ttlMs, for: .lease(lease))
            recordIfUnanswered(lease, tenure)
            if let refused = voidIfServerSwitched(lease, tenure, switchedUnderneath(), ttlMs: ttlMs) { return refused }
            return .ok(LeaseView(lease: lease, tenure: tenure, caller: holder))
        case .success(.heldByOther(let tenure)):
            return .conflict(LeaseView(lease: lease, tenure: tenure, caller: holder))
        case .success(.recovering(let retryAfterMs)):
            events.recoveryRefusal(.lease(lease))
            return .recovering(LeaseView(lease: lease, tenure: nil, caller: holder, reason: .recovering), retryAfterMs: retryAfterMs)
        case .failure(let error, let opened):
            // Sent, unanswered: Redis may hold a new tenure the caller was not told of.
            if error.outcomeUnknown { unknownOutcomes.add(.lease(lease), who: holder.value, ttlMs: ttlMs) }
            return fallback(error, opened: opened, policy: policy) { degraded(lease, holder, ttlMs) }
        case .rejected:
            return fallback(nil, opened: true, policy: policy) { degraded(lease, holder, ttlMs) }
        }
    }

    /// `POST /lease/renew`: extend the caller's tenure. Never starts a new one, so a
    /// holder that lost its lease finds out instead of silently leading again.
    public func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?, policy: FailurePolicy? = nil) -> Decision<LeaseView> {
        let floor = fencingFloor
        let rails = { floor.guardrails(for: .lease(lease)) }
        let switches = fencingFloor.serverSwitches
        switch breaker(for: lease).run({ () throws(BackendError) in
            try store.renew(lease, holder: holder, ttlMs: ttlMs, fencingToken: fencingToken, guardrails: rails)
        }) {
        case .success(.renewed(let tenure)):
            fencingFloor.observe(tenure.fencingToken, ttlMs: ttlMs, for: .lease(lease))
            recordIfUnanswered(lease, tenure)
            if voidIfServerSwitched(lease, tenure, fencingFloor.switchedUnderneath(since: switches), ttlMs: ttlMs) != nil {
                return .conflict(LeaseView(lease: lease, tenure: nil, caller: nil))
            }
            return .ok(LeaseView(lease: lease, tenure: tenure, caller: holder))
        case .success(.notHeld(let current)):
            // No `caller`: even under the caller's name, the current tenure is not the caller's.
            return .conflict(LeaseView(lease: lease, tenure: current, caller: nil))
        case .failure(let error, let opened):
            return fallback(error, opened: opened, policy: policy) { degraded(lease, holder, ttlMs, acquired: false) }
        case .rejected:
            return fallback(nil, opened: true, policy: policy) { degraded(lease, holder, ttlMs, acquired: false) }
        }
    }

    /// The answer to `POST /lease/release`.
    public struct Release: Sendable {
        public let released: Bool
        public let view: LeaseView
    }

    /// `POST /lease/release`: end the caller's tenure so another holder can start at once.
    public func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?, policy: FailurePolicy? = nil) -> Decision<Release> {
        switch breaker(for: lease).run({ () throws(BackendError) in try store.release(lease, holder: holder, fencingToken: fencingToken) }) {
        case .success(.released(let tenure)):
            fencingFloor.observeEnd(for: .lease(lease))
            history.record(.tenureEnded(TenureRecord(lease: lease, tenure: tenure), endedAtMs: clock.wallMs(), reason: .released))
            return .ok(Release(released: true, view: LeaseView(lease: lease, tenure: nil, caller: holder)))
        case .success(.vacant):
            return .ok(Release(released: false, view: LeaseView(lease: lease, tenure: nil, caller: holder)))
        case .success(.heldByOther(let tenure)):
            return .conflict(Release(released: false, view: LeaseView(lease: lease, tenure: tenure, caller: nil)))
        case .failure(let error, let opened):
            return fallback(error, opened: opened, policy: policy) { degradedRelease(lease, holder) }
        case .rejected:
            return fallback(nil, opened: true, policy: policy) { degradedRelease(lease, holder) }
        }
    }

    /// `GET /leader?lease=`: the state as seen by `caller` (or nobody in particular).
    public func state(_ lease: LeaseName, caller: Holder? = nil) -> Decision<LeaseView> {
        rule(breaker(for: lease)).read { () throws(BackendError) in LeaseView(lease: lease, tenure: try store.tenure(of: lease), caller: caller) }
    }

    /// `GET /leases`: every known lease with its state, sorted by name.
    public func all() -> Decision<[LeaseView]> {
        rule.read { () throws(BackendError) -> [LeaseView] in
            var views: [LeaseView] = []
            for lease in try store.knownLeases().sorted(by: { $0.value < $1.value }) {
                views.append(LeaseView(lease: lease, tenure: try store.tenure(of: lease), caller: nil))
            }
            return views
        }
    }

    /// A grant answered while the store switched server (another worker reached a new one
    /// between this call's start and its answer) may come from the server just left, while
    /// the new one hands the lease to someone else: it is voided (released where it is,
    /// best effort: the floor keeps its window, so the new server waits it out) and the
    /// caller told to retry. Behind a proxy routing to two masters: 10 overlapping tenures
    /// before, 0 after (chaos/proxy.py).
    private func voidIfServerSwitched(_ lease: LeaseName, _ tenure: Tenure, _ switched: Bool, ttlMs: Int) -> Decision<LeaseView>? {
        guard switched else { return nil }
        _ = breaker(for: lease).run { () throws(BackendError) in try store.release(lease, holder: tenure.holder, fencingToken: tenure.fencingToken) }
        events.recoveryRefusal(.lease(lease))
        return .recovering(LeaseView(lease: lease, tenure: nil, caller: tenure.holder, reason: .recovering), retryAfterMs: ttlMs)
    }

    /// A renewal of a tenure whose acquire went unanswered: the tenure is recorded before
    /// the holder hears "renewed" (idempotent on lease and token).
    private func recordIfUnanswered(_ lease: LeaseName, _ tenure: Tenure) {
        if unknownOutcomes.take(.lease(lease), who: tenure.holder.value) {
            history.record(.tenureStarted(TenureRecord(lease: lease, tenure: tenure)))
        }
    }

    /// Settles acquires whose outcome was unknown, once Redis answers: a tenure the caller
    /// holds now is written to the history (idempotent on lease and token), so a later
    /// "renewed" answer never refers to a tenure the history lacks. Returns how many were
    /// recorded.
    @discardableResult
    public func reconcileUnknownOutcomes() -> Int {
        var recorded = 0
        for e in unknownOutcomes.pending() {
            guard case .lease(let lease) = e.resource else { continue }
            do {
                if let tenure = try store.tenure(of: lease), tenure.holder.value == e.who {
                    fencingFloor.observe(tenure.fencingToken, ttlMs: tenure.ttlMs, for: .lease(lease))
                    history.record(.tenureStarted(TenureRecord(lease: lease, tenure: tenure)))
                    recorded += 1
                    unknownOutcomes.settle(e)
                } else {
                    unknownOutcomes.checkedAbsent(e)
                }
            } catch {
                continue  // Redis still away: try again on the next pass
            }
        }
        return recorded
    }

    /// How long a caller should wait before retrying a 503: until the next probe.
    public var retryAfterMs: Int { rule.retryAfterMs }

    private var rule: RedisFallback { rule(breaker) }

    private func rule(_ b: CircuitBreaker) -> RedisFallback { RedisFallback(breaker: b, defaultPolicy: defaultPolicy, events: events, kind: "lease") }

    /// The breaker of the shard `lease` lives on (the one breaker outside Cluster).
    public func breaker(for lease: LeaseName) -> CircuitBreaker { breakers.breaker(for: store.failureDomain(of: lease)) }

    private func fallback<V>(_ error: BackendError?, opened: Bool, policy: FailurePolicy?, _ grant: () -> V) -> Decision<V> {
        rule.decide(error, opened: opened, policy: policy, grant)
    }

    private func degraded(_ lease: LeaseName, _ holder: Holder, _ ttlMs: Int, acquired: Bool = true) -> LeaseView {
        let view = LeaseView.degraded(lease: lease, caller: holder, ttlMs: ttlMs, nowMs: clock.wallMs())
        return acquired ? view : LeaseView(lease: lease, holder: holder, leader: true, acquired: false, fencingToken: nil,
                                           ttlMs: ttlMs, expiresInMs: ttlMs, acquiredAtMs: nil, mode: .degraded)
    }

    private func degradedRelease(_ lease: LeaseName, _ holder: Holder) -> Release {
        Release(released: true, view: LeaseView(lease: lease, holder: nil, leader: false, acquired: false, fencingToken: nil,
                                                ttlMs: nil, expiresInMs: nil, acquiredAtMs: nil, mode: .degraded))
    }
}
