import BatonCore
import BatonTestSupport
import Testing

@Suite struct TaskCoordinatorTests {
    let clock = ManualClock()
    let store: InMemoryStore
    let history = RecordingHistory()
    let task = TaskName("RefreshLibrary")!
    let a = Holder("pod-a")!
    let b = Holder("pod-b")!

    init() { store = InMemoryStore(clock: clock) }

    func coordinator(policy: FailurePolicy = .grant) -> TaskCoordinator {
        TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 5_000, clock: clock),
                        defaultPolicy: policy, history: history, clock: clock)
    }

    func request(_ h: Holder, slot: String? = nil, most: Int = 60_000, least: Int = 0) -> ClaimRequest {
        ClaimRequest(task: task, holder: h, slot: slot.flatMap(Slot.init), lockAtMostMs: most, lockAtLeastMs: least)
    }

    @Test func oneClaimantWinsAndTheOtherSeesWhoHoldsIt() {
        let c = coordinator()
        guard case .ok(let won) = c.claim(request(a)) else { Issue.record("a lost"); return }
        #expect(won.claimed && won.runId != nil && won.fencingToken != nil)
        guard case .conflict(let lost) = c.claim(request(b)) else { Issue.record("b won too"); return }
        #expect(!lost.claimed && lost.reason == .held && lost.holder == a)
    }

    @Test func lockAtMostFreesTheTaskWhenTheHolderDies() {
        let c = coordinator()
        let first = c.claim(request(a, most: 5_000)).value?.fencingToken?.value ?? 0
        clock.advance(ms: 5_001)
        guard case .ok(let v) = c.claim(request(b)) else { Issue.record("still held after lock_at_most"); return }
        #expect(v.holder == b && v.fencingToken?.value == first + 1)
    }

    @Test func lockAtLeastKeepsAFinishedRunsClaim() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, least: 30_000)) else { Issue.record("claim failed"); return }
        clock.advance(ms: 1_000)
        guard case .ok(let done) = c.complete(task, runId: v.runId!, holder: a, status: .succeeded, detail: nil) else {
            Issue.record("complete failed"); return
        }
        #expect(!done.late)
        guard case .conflict(let again) = c.claim(request(b)) else { Issue.record("ran again within lock_at_least"); return }
        #expect(again.reason == .recentlyCompleted)
        clock.advance(ms: 29_001)
        guard case .ok = c.claim(request(b)) else { Issue.record("still blocked after lock_at_least"); return }
    }

    @Test func aSlotCompletesAtMostOnce() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, slot: "2026-11-27T03:00")) else { Issue.record("claim failed"); return }
        _ = c.complete(task, runId: v.runId!, holder: a, status: .succeeded, detail: nil)
        clock.advance(ms: 86_400_000)
        guard case .conflict(let r) = c.claim(request(b, slot: "2026-11-27T03:00")) else { Issue.record("slot ran twice"); return }
        #expect(r.reason == .slotDone)
        guard case .ok = c.claim(request(b, slot: "2026-11-27T04:00")) else { Issue.record("next slot refused"); return }
    }

    @Test func aCancelledRunLeavesTheSlotOpen() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, slot: "s1")) else { Issue.record("claim failed"); return }
        _ = c.complete(task, runId: v.runId!, holder: a, status: .cancelled, detail: "shutdown")
        guard case .ok = c.claim(request(b, slot: "s1")) else { Issue.record("cancelled slot stayed done"); return }
    }

    @Test func extendKeepsOnlyTheCurrentRunAlive() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, most: 10_000)) else { Issue.record("claim failed"); return }
        clock.advance(ms: 9_000)
        guard case .ok(let ext) = c.extend(task, runId: v.runId!, holder: a, lockAtMostMs: 10_000) else { Issue.record("extend failed"); return }
        #expect(ext.expiresInMs == 10_000)
        guard case .conflict = c.extend(task, runId: v.runId!, holder: b, lockAtMostMs: 10_000) else { Issue.record("b extended a's run"); return }
        clock.advance(ms: 10_001)
        guard case .conflict(let lost) = c.extend(task, runId: v.runId!, holder: a, lockAtMostMs: 10_000) else {
            Issue.record("extended an expired claim"); return
        }
        #expect(!lost.claimed)
    }

    @Test func lateCompletionIsRefusedButRecorded() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, most: 1_000)) else { Issue.record("claim failed"); return }
        clock.advance(ms: 1_001)
        _ = c.claim(request(b))
        guard case .conflict(let late) = c.complete(task, runId: v.runId!, holder: a, status: .succeeded, detail: "done") else {
            Issue.record("late completion accepted"); return
        }
        #expect(late.late && late.recorded && late.current?.holder == b)
        let finished = history.recorded.compactMap { e -> RunRecord? in
            if case .run(let r) = e, r.runId == v.runId, r.status != .running { return r }
            return nil
        }
        #expect(finished.count == 1 && finished.first?.late == true && finished.first?.detail == "done")
    }

    @Test func degradedClaimsCarryNoTokenAndAreRecordedAsDegraded() {
        let c = coordinator(policy: .grant)
        store.failing = true
        guard case .ok(let v) = c.claim(request(a)) else { Issue.record("not granted"); return }
        #expect(v.mode == .degraded && v.fencingToken == nil && v.claimed && v.runId != nil)
        guard case .ok(let done) = c.complete(task, runId: v.runId!, holder: a, status: .succeeded, detail: nil) else {
            Issue.record("degraded completion refused"); return
        }
        #expect(done.mode == .degraded)
        let runs = history.recorded.compactMap { e -> RunRecord? in if case .run(let r) = e { return r } else { return nil } }
        #expect(runs.count == 2 && runs.allSatisfy { $0.mode == .degraded })
    }

    @Test func denyPolicyRefusesClaimsButStillRecordsCompletions() {
        let c = coordinator(policy: .deny)
        store.failing = true
        guard case .unavailable = c.claim(request(a)) else { Issue.record("claim not refused"); return }
        guard case .unavailable = c.complete(task, runId: "11111111-2222-3333-4444-555555555555", holder: a, status: .failed, detail: nil) else {
            Issue.record("complete not 503"); return
        }
        #expect(history.recorded.count == 1)  // the completion happened; it is kept
    }

    /// Completed slots as the history would report them.
    struct KnownSlots: CompletedSlots {
        let done: [String: String]
        func completedRun(of task: TaskName, slot: Slot) -> String? { done[slot.value] }
    }

    @Test func aSlotCompletedInTheHistoryStaysDoneAfterRedisForgot() {
        let slots = KnownSlots(done: ["2026-11-27T03:00Z": "7d1f0c62-7d7e-4b0a-9d55-1f4f8f0b5a11"])
        let c = TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                history: history, completedSlots: slots, clock: clock)
        store.amnesia()  // Redis lost its slot markers; the store alone would grant the slot again
        guard case .conflict(let v) = c.claim(request(b, slot: "2026-11-27T03:00Z")) else { Issue.record("a done slot ran again"); return }
        #expect(!v.claimed && v.reason == .slotDone && store.calls == 0)
        guard case .ok = c.claim(request(b, slot: "2026-11-27T04:00Z")) else { Issue.record("another slot refused"); return }
    }

    @Test func anExtensionTellsTheHistoryHowLongTheRunMayLast() {
        let c = coordinator()
        guard case .ok(let v) = c.claim(request(a, most: 5_000)) else { Issue.record("not claimed"); return }
        clock.advance(ms: 4_000)
        guard case .ok = c.extend(task, runId: v.runId!, holder: a, lockAtMostMs: 5_000) else { Issue.record("not extended"); return }
        guard case .run(let r) = history.recorded.last else { Issue.record("no history row for the extension"); return }
        #expect(r.runId == v.runId && r.status == .running && r.lockAtMostMs == 9_000)
    }

    @Test func aCompletedRunIsNotCarriedIntoANewRedisServer() {
        let floor = DurableFencingFloor(clock: clock)
        let c = TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                history: history, fencingFloor: floor, clock: clock)
        guard case .ok(let v) = c.claim(request(a, most: 3_600_000)) else { Issue.record("not claimed"); return }
        guard case .ok = c.complete(task, runId: v.runId!, holder: a, status: .succeeded, detail: nil) else { Issue.record("not completed"); return }
        store.amnesia()
        floor.storeChanged()
        // Nobody believes in a finished run: no hour-long wait for its lock_at_most.
        guard case .ok = c.claim(request(b)) else { Issue.record("a finished run held the task after Redis changed"); return }
    }
}
