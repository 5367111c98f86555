public import BatonSupport

/// Run-once coordination of scheduled tasks (ShedLock semantics) over a ``ClaimStore``,
/// with every claim and completion written to history.
///
/// `lock_at_most` bounds how long a dead holder can block the task; `lock_at_least`
/// keeps a finished run's claim so a replica whose clock fires a little later does not
/// run the task again; a `slot` allows at most one completed run per schedule slot.
public struct TaskCoordinator: Sendable {
    public let store: any ClaimStore
    public let breaker: CircuitBreaker
    /// Per-shard breakers (see ``LeaderElection/breakers``); ``breaker`` is their primary.
    public let breakers: BreakerDomains
    public let defaultPolicy: FailurePolicy
    public let history: any HistoryRecorder
    public let fencingFloor: any FencingFloor
    public let completedSlots: any CompletedSlots
    public let events: any CoordinationEvents
    public let clock: any Clock

    public init(store: any ClaimStore, breaker: CircuitBreaker, defaultPolicy: FailurePolicy,
                history: any HistoryRecorder, fencingFloor: any FencingFloor = NoFencingFloor(),
                completedSlots: any CompletedSlots = NoCompletedSlots(),
                events: any CoordinationEvents = NoEvents(), clock: any Clock = SystemClock(),
                unknownOutcomes: UnknownOutcomes = UnknownOutcomes(), breakers: BreakerDomains? = nil) {
        self.unknownOutcomes = unknownOutcomes
        self.store = store
        self.breaker = breakers?.primary ?? breaker
        self.breakers = breakers ?? BreakerDomains(primary: breaker)
        self.defaultPolicy = defaultPolicy
        self.history = history
        self.fencingFloor = fencingFloor
        self.completedSlots = completedSlots
        self.events = events
        self.clock = clock
    }

    /// `POST /tasks/claim`.
    public func claim(_ request: ClaimRequest, policy: FailurePolicy? = nil) -> Decision<ClaimView> {
        // The history outlives Redis' slot markers (a restart without data, a lagging replica).
        if let slot = request.slot, completedSlots.completedRun(of: request.task, slot: slot) != nil {
            return .conflict(ClaimView(task: request.task, claimed: false, reason: .slotDone, claim: nil))
        }
        let runId = RandomID.uuid()
        let rails = { fencingFloor.guardrails(for: .task(request.task)) }
        let switches = fencingFloor.serverSwitches
        switch breaker(for: request.task).run({ () throws(BackendError) in try store.claim(request, runId: runId, guardrails: rails) }) {
        case .success(.claimed(let claim)):
            fencingFloor.observe(claim.fencingToken, ttlMs: request.lockAtMostMs, for: .task(request.task))
            history.record(.run(RunRecord(runId: claim.runId, task: claim.task, slot: claim.slot, holder: claim.holder,
                                          fencingToken: claim.fencingToken, claimedAtMs: claim.claimedAtMs,
                                          lockAtMostMs: request.lockAtMostMs, mode: .normal)))
            if let refused = voidIfServerSwitched(claim, since: switches, lockAtMostMs: request.lockAtMostMs) { return refused }
            return .ok(ClaimView(task: request.task, claimed: true, claim: claim))
        case .success(.refused(let reason, let current)):
            return .conflict(ClaimView(task: request.task, claimed: false, reason: reason, claim: current))
        case .success(.recovering(let retryAfterMs)):
            events.recoveryRefusal(.task(request.task))
            return .recovering(ClaimView(task: request.task, claimed: false, reason: .recovering, claim: nil), retryAfterMs: retryAfterMs)
        case .failure(let error, let opened):
            // Sent, unanswered: a claim under a run id nobody knows may block the task.
            if error.outcomeUnknown { unknownOutcomes.add(.task(request.task), who: runId, ttlMs: request.lockAtMostMs) }
            return fallback(error, opened: opened, policy: policy) { degradedClaim(request, runId: runId) }
        case .rejected:
            return fallback(nil, opened: true, policy: policy) { degradedClaim(request, runId: runId) }
        }
    }

    /// `POST /tasks/extend`: keep-alive for a long run. Only the current run may extend.
    public func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int, policy: FailurePolicy? = nil) -> Decision<ClaimView> {
        let degraded = { ClaimView(degradedExtend: task, runId: runId, holder: holder, lockAtMostMs: lockAtMostMs) }
        let rails = { fencingFloor.guardrails(for: .task(task)) }
        let switches = fencingFloor.serverSwitches
        switch breaker(for: task).run({ () throws(BackendError) in
            try store.extend(task, runId: runId, holder: holder, lockAtMostMs: lockAtMostMs, guardrails: rails)
        }) {
        case .success(.extended(let claim)):
            fencingFloor.observe(claim.fencingToken, ttlMs: lockAtMostMs, for: .task(task))
            // The history learns how long the run may now last, so another replica that
            // finds Redis changed waits for it too.
            history.record(.run(RunRecord(runId: runId, task: task, slot: claim.slot, holder: holder, fencingToken: claim.fencingToken,
                                          claimedAtMs: claim.claimedAtMs,
                                          lockAtMostMs: Int(max(0, clock.wallMs() - claim.claimedAtMs)) + lockAtMostMs, mode: .normal)))
            // Extended where? Perhaps on the server just left, while the new one lets
            // another replica claim the task: the run is told it lost its claim.
            if fencingFloor.switchedUnderneath(since: switches) {
                events.recoveryRefusal(.task(task))
                return .conflict(ClaimView(task: task, claimed: false, reason: nil, claim: nil))
            }
            return .ok(ClaimView(task: task, claimed: true, claim: claim))
        case .success(.lost(let current)):
            return .conflict(ClaimView(task: task, claimed: false, reason: current == nil ? nil : .held, claim: current))
        case .failure(let error, let opened):
            return fallback(error, opened: opened, policy: policy, degraded)
        case .rejected:
            return fallback(nil, opened: true, policy: policy, degraded)
        }
    }

    /// `POST /tasks/complete`. The run is recorded whatever happens: in time (200), late
    /// (409, `late: true`), or while Redis is unreachable (200, degraded, when policy grants).
    public func complete(_ task: TaskName, runId: String, holder: Holder, status: RunStatus, detail: String?,
                         policy: FailurePolicy? = nil) -> Decision<CompletionView> {
        let now = clock.wallMs()
        switch breaker(for: task).run({ () throws(BackendError) in try store.complete(task, runId: runId, holder: holder, status: status) }) {
        case .success(.completed(let claim)):
            fencingFloor.observeEnd(for: .task(task))
            history.record(.run(RunRecord(runId: runId, task: task, slot: claim.slot, holder: holder, fencingToken: claim.fencingToken,
                                          claimedAtMs: claim.claimedAtMs, finishedAtMs: now, status: status, detail: detail, mode: .normal)))
            return .ok(CompletionView(task: task, runId: runId, status: status, recorded: true, late: false, current: nil, mode: .normal))
        case .success(.late(let current)):
            history.record(.run(RunRecord(runId: runId, task: task, slot: nil, holder: holder, fencingToken: nil, claimedAtMs: nil,
                                          finishedAtMs: now, status: status, detail: detail, mode: .normal, late: true)))
            let view = current.map { ClaimView(task: task, claimed: false, reason: .held, claim: $0) }
            return .conflict(CompletionView(task: task, runId: runId, status: status, recorded: true, late: true, current: view, mode: .normal))
        case .failure(let error, let opened):
            return degradedComplete(error, opened: opened, task, runId, holder, status, detail, now, policy)
        case .rejected:
            return degradedComplete(nil, opened: true, task, runId, holder, status, detail, now, policy)
        }
    }

    /// The current claim of a task, or nil.
    public func current(_ task: TaskName) -> Decision<TaskClaim?> {
        rule(breaker(for: task)).read { () throws(BackendError) in try store.claim(of: task) }
    }

    /// Every known task with its current claim, sorted by name.
    public func all() -> Decision<[(TaskName, TaskClaim?)]> {
        rule.read { () throws(BackendError) -> [(TaskName, TaskClaim?)] in
            try store.knownTasks().sorted { $0.value < $1.value }.map { task throws(BackendError) in (task, try store.claim(of: task)) }
        }
    }

    public var retryAfterMs: Int { rule.retryAfterMs }

    /// Claims sent without an answer (see ``UnknownOutcomes``).
    public let unknownOutcomes: UnknownOutcomes

    /// Voids claims whose outcome was unknown, once Redis answers: their run id was never
    /// told to anyone, so nobody runs them, and the task is free again at once instead of
    /// after `lock_at_most_ms`. Returns how many were voided.
    @discardableResult
    public func reconcileUnknownOutcomes() -> Int {
        var voided = 0
        for e in unknownOutcomes.pending() {
            guard case .task(let task) = e.resource else { continue }
            do {
                if try store.void(task, runId: e.who) { voided += 1 }
                unknownOutcomes.settle(e)
            } catch {
                continue
            }
        }
        return voided
    }

    /// A claim answered while the store switched server (another worker reached a new one
    /// during this call) may have been made on the server just left, while the new one lets
    /// another replica claim the same task: it is voided where it was made (best effort; the
    /// floor keeps its window, so the new server waits it out), its history row closed as
    /// cancelled, and the caller told to retry. As ``LeaderElection`` does for tenures.
    private func voidIfServerSwitched(_ claim: TaskClaim, since switches: Int, lockAtMostMs: Int) -> Decision<ClaimView>? {
        guard fencingFloor.switchedUnderneath(since: switches) else { return nil }
        _ = breaker(for: claim.task).run { () throws(BackendError) in try store.void(claim.task, runId: claim.runId) }
        history.record(.run(RunRecord(runId: claim.runId, task: claim.task, slot: claim.slot, holder: claim.holder,
                                      fencingToken: claim.fencingToken, claimedAtMs: claim.claimedAtMs, finishedAtMs: clock.wallMs(),
                                      status: .cancelled, detail: "voided: the Redis server changed while it was being claimed",
                                      mode: .normal)))
        events.recoveryRefusal(.task(claim.task))
        return .recovering(ClaimView(task: claim.task, claimed: false, reason: .recovering, claim: nil), retryAfterMs: lockAtMostMs)
    }

    private var rule: RedisFallback { rule(breaker) }

    private func rule(_ b: CircuitBreaker) -> RedisFallback { RedisFallback(breaker: b, defaultPolicy: defaultPolicy, events: events, kind: "task") }

    /// The breaker of the shard `task` lives on (the one breaker outside Cluster).
    public func breaker(for task: TaskName) -> CircuitBreaker { breakers.breaker(for: store.failureDomain(of: task)) }

    private func fallback<V>(_ error: BackendError?, opened: Bool, policy: FailurePolicy?, _ grant: () -> V) -> Decision<V> {
        rule.decide(error, opened: opened, policy: policy, grant)
    }

    private func degradedClaim(_ request: ClaimRequest, runId: String) -> ClaimView {
        let now = clock.wallMs()
        history.record(.run(RunRecord(runId: runId, task: request.task, slot: request.slot, holder: request.holder,
                                      fencingToken: nil, claimedAtMs: now, lockAtMostMs: request.lockAtMostMs, mode: .degraded)))
        return ClaimView(degraded: request, runId: runId, nowMs: now)
    }

    private func degradedComplete(_ error: BackendError?, opened: Bool, _ task: TaskName, _ runId: String, _ holder: Holder,
                                  _ status: RunStatus, _ detail: String?, _ now: Int64, _ policy: FailurePolicy?) -> Decision<CompletionView> {
        // Whatever the policy, the run happened: keep its record.
        history.record(.run(RunRecord(runId: runId, task: task, slot: nil, holder: holder, fencingToken: nil, claimedAtMs: nil,
                                      finishedAtMs: now, status: status, detail: detail, mode: .degraded)))
        return fallback(error, opened: opened, policy: policy) {
            CompletionView(task: task, runId: runId, status: status, recorded: true, late: false, current: nil, mode: .degraded)
        }
    }
}
