import BatonCore
import BatonSupport
import Synchronization

/// A lease and claim store in memory, with the same semantics as the Redis scripts,
/// for unit tests of the domain. `failing` makes every call throw, like a dead Redis.
public final class InMemoryStore: LeaseStore, ClaimStore {
    private struct Lease {
        var tenure: Tenure
        var expiresAt: Int64
    }

    private struct Claim {
        var claim: TaskClaim
        var expiresAt: Int64
    }

    private struct State {
        var leases: [LeaseName: Lease] = [:]
        var leaseCounters: [LeaseName: Int64] = [:]
        var lastHolders: [LeaseName: Holder] = [:]
        var claims: [TaskName: Claim] = [:]
        var taskCounters: [TaskName: Int64] = [:]
        var doneSlots: Set<String> = []
        var recoverUntil: [String: Int64] = [:]
        /// Which "server" last handed out a token for each resource (the scripts' `epoch`).
        var epochs: [String: Int] = [:]
        /// When each resource's meta data (counter, epoch, last holder, recover_until) expires,
        /// as the scripts' `keep_meta` sets it.
        var metaExpiresAt: [String: Int64] = [:]
        var server = 1
        var failing = false
        var calls = 0
    }

    private let clock: any Clock
    private let state = Mutex(State())

    public init(clock: any Clock) {
        self.clock = clock
    }

    /// While true, every call fails with a connection error.
    public var failing: Bool {
        get { state.withLock { $0.failing } }
        set { state.withLock { $0.failing = newValue } }
    }

    /// The scripts' META_GRACE_MS: how long meta data outlives what needs it.
    public static let metaGraceMs: Int64 = 86_400_000

    /// Entries held for every resource (leases, claims, counters, epochs, windows, slots):
    /// 0 for a store that never granted anything, like an empty Redis.
    public var residentEntries: Int {
        let now = clock.wallMs()
        return state.withLock { s in
            s.leases = s.leases.filter { $0.value.expiresAt > now }
            s.claims = s.claims.filter { $0.value.expiresAt > now }
            Self.expireMeta(&s, now)
            return s.leases.count + s.leaseCounters.count + s.lastHolders.count + s.claims.count + s.taskCounters.count
                + s.doneSlots.count + s.recoverUntil.count + s.epochs.count
        }
    }

    /// A description of everything the store holds, equal before and after a call that
    /// wrote nothing (the clock standing still).
    public var fingerprint: String {
        state.withLock { s in
            let parts: [String] = [
                s.leases.map { "\($0.key.value)=\($0.value.tenure.holder.value)@\($0.value.expiresAt)" }.sorted().joined(separator: ","),
                s.leaseCounters.map { "\($0.key.value)=\($0.value)" }.sorted().joined(separator: ","),
                s.lastHolders.map { "\($0.key.value)=\($0.value.value)" }.sorted().joined(separator: ","),
                s.claims.map { "\($0.key.value)=\($0.value.claim.runId)@\($0.value.expiresAt)" }.sorted().joined(separator: ","),
                s.taskCounters.map { "\($0.key.value)=\($0.value)" }.sorted().joined(separator: ","),
                s.doneSlots.sorted().joined(separator: ","),
                s.recoverUntil.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
                s.epochs.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
                s.metaExpiresAt.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
            ]
            return parts.joined(separator: " | ")
        }
    }

    /// Milliseconds until the meta data of `lease:NAME` or `task:NAME` expires; nil when it has none.
    public func metaExpiresInMs(_ key: String) -> Int64? {
        let now = clock.wallMs()
        return state.withLock { s in s.metaExpiresAt[key].map { $0 - now } }
    }

    /// How many calls reached the store (failed ones included).
    public var calls: Int { state.withLock { $0.calls } }

    /// Forgets everything, like a Redis restart without persistence.
    public func amnesia() {
        state.withLock { s in
            let failing = s.failing
            let server = s.server
            s = State()
            s.failing = failing
            s.server = server + 1
        }
    }

    /// Becomes another server with the same data, like a restart from an AOF.
    public func changeServer() {
        state.withLock { $0.server += 1 }
    }

    private let snapshotState = Mutex<State?>(nil)

    /// Keeps a copy of the data as it is now (for ``failoverToSnapshot()``).
    public func snapshot() {
        let copy = state.withLock { $0 }
        snapshotState.withLock { $0 = copy }
    }

    /// Becomes another server holding the data of the last ``snapshot()``, like a failover
    /// to a replica that missed every write since.
    public func failoverToSnapshot() {
        guard let copy = snapshotState.withLock({ $0 }) else { return }
        state.withLock { s in
            let server = s.server
            s = copy
            s.server = server + 1
        }
    }

    /// Holds off new grants for `window` ms from `now` (keeps the later end).
    private static func holdOff(_ s: inout State, _ key: String, _ now: Int64, _ window: Int) {
        guard window > 0 else { return }
        s.recoverUntil[key] = max(s.recoverUntil[key] ?? 0, now + Int64(window))
    }

    /// The scripts' `note_windows`: a refusal records only a window Baton passes (carried, or
    /// the recovery window when the data is from another server); a hash made for it alone
    /// expires with the window.
    private static func noteWindows(_ s: inout State, _ key: String, _ g: Guardrails, _ now: Int64) {
        var w = g.carriedWindowMs
        if s.epochs[key] != s.server { w = max(w, g.recoveryWindowMs) }
        guard w > 0 else { return }
        let existed = s.metaExpiresAt[key] != nil
        holdOff(&s, key, now, w)
        if existed { keepMeta(&s, key, 0, now) } else { s.metaExpiresAt[key] = now + Int64(w) }
    }

    /// The scripts' `settle`: true when the resource's data is from another server (void
    /// what was found); its counter then jumps to the clock in µs.
    private static func settle(_ s: inout State, _ key: String, _ counter: inout Int64, _ g: Guardrails, _ now: Int64) -> Bool {
        holdOff(&s, key, now, g.carriedWindowMs)
        guard s.epochs[key] != s.server else { return false }
        counter = max(counter, g.floor, now * 1000)
        s.epochs[key] = s.server
        holdOff(&s, key, now, g.recoveryWindowMs)
        return true
    }

    /// The scripts' `next_token`.
    private static func nextToken(_ s: inout State, _ key: String, _ counter: inout Int64, _ g: Guardrails, _ now: Int64) -> (token: Int64?, waitMs: Int) {
        if let until = s.recoverUntil[key], now < until { return (nil, Int(until - now)) }
        counter += 1
        if counter <= g.floor {
            counter = g.floor
            if g.recoveryWindowMs > 0 {
                holdOff(&s, key, now, g.recoveryWindowMs)
                return (nil, g.recoveryWindowMs)
            }
            counter += 1
        }
        return (counter, 0)
    }

    private func foreign(_ s: State, _ key: String) -> Bool { s.epochs[key] != s.server }

    /// The scripts' `keep_meta`: the meta data lives while the resource's key does
    /// (`keyTTL`), while grants are held off, then the grace period.
    private static func keepMeta(_ s: inout State, _ key: String, _ keyTTL: Int64, _ now: Int64) {
        s.metaExpiresAt[key] = now + max(keyTTL, (s.recoverUntil[key] ?? 0) - now, 0) + metaGraceMs
    }

    /// Drops the meta data whose time has come, as Redis expires the meta hash.
    private static func expireMeta(_ s: inout State, _ now: Int64) {
        for (key, at) in s.metaExpiresAt where at <= now {
            s.metaExpiresAt[key] = nil
            s.epochs[key] = nil
            s.recoverUntil[key] = nil
            if key.hasPrefix("lease:"), let l = LeaseName(String(key.dropFirst(6))) {
                s.leaseCounters[l] = nil
                s.lastHolders[l] = nil
            } else if key.hasPrefix("task:"), let t = TaskName(String(key.dropFirst(5))) {
                s.taskCounters[t] = nil
            }
        }
    }

    private func withState<T>(_ body: (inout State, Int64) -> T) throws(BackendError) -> T {
        let now = clock.wallMs()
        let (failed, value): (Bool, T?) = state.withLock { s in
            s.calls += 1
            if s.failing { return (true, nil) }
            s.leases = s.leases.filter { $0.value.expiresAt > now }
            s.claims = s.claims.filter { $0.value.expiresAt > now }
            Self.expireMeta(&s, now)
            return (false, body(&s, now))
        }
        if failed { throw BackendError(.connect, "in-memory store is failing") }
        return value!
    }

    private func view(_ l: Lease, _ now: Int64) -> Tenure {
        Tenure(holder: l.tenure.holder, fencingToken: l.tenure.fencingToken, acquiredAtMs: l.tenure.acquiredAtMs,
               ttlMs: l.tenure.ttlMs, expiresInMs: Int(l.expiresAt - now))
    }

    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult {
        let g = guardrails()
        return try withState { s, now in
            let key = "lease:\(lease.value)"
            // Held by another, or renewed by its holder, under this server: nothing to settle.
            if !foreign(s, key), var cur = s.leases[lease] {
                guard cur.tenure.holder == holder else {
                    Self.noteWindows(&s, key, g, now)
                    return .heldByOther(view(cur, now))
                }
                Self.holdOff(&s, key, now, g.carriedWindowMs)
                cur.expiresAt = now + Int64(ttlMs)
                cur.tenure = Tenure(holder: holder, fencingToken: cur.tenure.fencingToken, acquiredAtMs: cur.tenure.acquiredAtMs,
                                    ttlMs: ttlMs, expiresInMs: ttlMs)
                s.leases[lease] = cur
                Self.keepMeta(&s, key, Int64(ttlMs), now)
                return .renewed(view(cur, now))
            }
            var counter = s.leaseCounters[lease] ?? 0
            if Self.settle(&s, key, &counter, g, now) { s.leases[lease] = nil }
            let next = Self.nextToken(&s, key, &counter, g, now)
            s.leaseCounters[lease] = counter
            guard let token = next.token else {
                Self.keepMeta(&s, key, 0, now)
                return .recovering(retryAfterMs: next.waitMs)
            }
            let previous = s.lastHolders[lease]
            s.lastHolders[lease] = holder
            let l = Lease(tenure: Tenure(holder: holder, fencingToken: FencingToken(token), acquiredAtMs: now, ttlMs: ttlMs,
                                         expiresInMs: ttlMs), expiresAt: now + Int64(ttlMs))
            s.leases[lease] = l
            Self.keepMeta(&s, key, Int64(ttlMs), now)
            return .acquired(view(l, now), previousHolder: previous)
        }
    }

    public func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
                      guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
        let g = guardrails()
        return try withState { s, now in
            let key = "lease:\(lease.value)"
            // A tenure from an earlier server is void: not held (the next acquire settles it).
            guard !foreign(s, key), var cur = s.leases[lease] else {
                Self.noteWindows(&s, key, g, now)
                return .notHeld(nil)
            }
            guard cur.tenure.holder == holder, fencingToken == nil || fencingToken == cur.tenure.fencingToken else {
                Self.noteWindows(&s, key, g, now)
                return .notHeld(view(cur, now))
            }
            Self.holdOff(&s, key, now, g.carriedWindowMs)
            Self.keepMeta(&s, key, Int64(ttlMs), now)
            cur.expiresAt = now + Int64(ttlMs)
            cur.tenure = Tenure(holder: holder, fencingToken: cur.tenure.fencingToken, acquiredAtMs: cur.tenure.acquiredAtMs,
                                ttlMs: ttlMs, expiresInMs: ttlMs)
            s.leases[lease] = cur
            return .renewed(view(cur, now))
        }
    }

    public func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
        try withState { s, now in
            guard !foreign(s, "lease:\(lease.value)"), let cur = s.leases[lease] else { return .vacant }
            guard cur.tenure.holder == holder, fencingToken == nil || fencingToken == cur.tenure.fencingToken else {
                return .heldByOther(view(cur, now))
            }
            s.leases[lease] = nil
            Self.keepMeta(&s, "lease:\(lease.value)", 0, now)
            return .released(view(cur, now))
        }
    }

    public func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? {
        try withState { s, now in foreign(s, "lease:\(lease.value)") ? nil : s.leases[lease].map { view($0, now) } }
    }

    public func knownLeases() throws(BackendError) -> [LeaseName] {
        try withState { s, _ in Array(s.leaseCounters.keys) }
    }

    private func claimView(_ c: Claim, _ now: Int64) -> TaskClaim {
        TaskClaim(task: c.claim.task, runId: c.claim.runId, holder: c.claim.holder, slot: c.claim.slot,
                  fencingToken: c.claim.fencingToken, claimedAtMs: c.claim.claimedAtMs, lockAtMostMs: c.claim.lockAtMostMs,
                  lockAtLeastMs: c.claim.lockAtLeastMs, expiresInMs: Int(c.expiresAt - now), state: c.claim.state)
    }

    public func claim(_ r: ClaimRequest, runId: String, guardrails: () -> Guardrails) throws(BackendError) -> ClaimResult {
        let g = guardrails()
        return try withState { s, now in
            let key = "task:\(r.task.value)"
            // Refusals first, from what is there, so that a refused claim writes nothing.
            let current = visible(s, r.task).map { claimView($0, now) }
            if let slot = r.slot, s.doneSlots.contains("\(r.task.value)\u{0}\(slot.value)") {
                Self.noteWindows(&s, key, g, now)
                return .refused(.slotDone, current: current)
            }
            if let current {
                Self.noteWindows(&s, key, g, now)
                return .refused(current.state == .completed ? .recentlyCompleted : .held, current: current)
            }
            var counter = s.taskCounters[r.task] ?? 0
            if Self.settle(&s, key, &counter, g, now), s.claims[r.task]?.claim.state == .running { s.claims[r.task] = nil }
            let next = Self.nextToken(&s, key, &counter, g, now)
            s.taskCounters[r.task] = counter
            guard let token = next.token else {
                Self.keepMeta(&s, key, 0, now)
                return .recovering(retryAfterMs: next.waitMs)
            }
            Self.keepMeta(&s, key, Int64(r.lockAtMostMs), now)
            let c = Claim(claim: TaskClaim(task: r.task, runId: runId, holder: r.holder, slot: r.slot, fencingToken: FencingToken(token),
                                           claimedAtMs: now, lockAtMostMs: r.lockAtMostMs, lockAtLeastMs: r.lockAtLeastMs,
                                           expiresInMs: r.lockAtMostMs, state: .running),
                          expiresAt: now + Int64(r.lockAtMostMs))
            s.claims[r.task] = c
            return .claimed(claimView(c, now))
        }
    }

    public func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int,
                       guardrails: () -> Guardrails) throws(BackendError) -> ExtendResult {
        let g = guardrails()
        return try withState { s, now in
            guard var c = visible(s, task) else {
                Self.noteWindows(&s, "task:\(task.value)", g, now)
                return .lost(nil)
            }
            guard c.claim.runId == runId, c.claim.holder == holder, c.claim.state == .running else {
                Self.noteWindows(&s, "task:\(task.value)", g, now)
                return .lost(claimView(c, now))
            }
            Self.holdOff(&s, "task:\(task.value)", now, g.carriedWindowMs)
            Self.keepMeta(&s, "task:\(task.value)", Int64(lockAtMostMs), now)
            c.expiresAt = now + Int64(lockAtMostMs)
            c.claim = TaskClaim(task: task, runId: runId, holder: holder, slot: c.claim.slot, fencingToken: c.claim.fencingToken,
                                claimedAtMs: c.claim.claimedAtMs, lockAtMostMs: lockAtMostMs, lockAtLeastMs: c.claim.lockAtLeastMs,
                                expiresInMs: lockAtMostMs, state: .running)
            s.claims[task] = c
            return .extended(claimView(c, now))
        }
    }

    public func complete(_ task: TaskName, runId: String, holder: Holder, status: RunStatus) throws(BackendError) -> CompleteResult {
        try withState { s, now in
            guard var c = visible(s, task), c.claim.runId == runId, c.claim.holder == holder, c.claim.state == .running else {
                return .late(current: visible(s, task).map { claimView($0, now) })
            }
            if status != .cancelled, let slot = c.claim.slot { s.doneSlots.insert("\(task.value)\u{0}\(slot.value)") }
            let keep = c.claim.claimedAtMs + Int64(c.claim.lockAtLeastMs) - now
            c.claim = TaskClaim(task: task, runId: runId, holder: holder, slot: c.claim.slot, fencingToken: c.claim.fencingToken,
                                claimedAtMs: c.claim.claimedAtMs, lockAtMostMs: c.claim.lockAtMostMs,
                                lockAtLeastMs: c.claim.lockAtLeastMs, expiresInMs: Int(max(0, keep)), state: .completed)
            c.expiresAt = now + max(0, keep)
            s.claims[task] = keep > 0 ? c : nil
            Self.keepMeta(&s, "task:\(task.value)", max(0, keep), now)
            return .completed(claimView(c, now))
        }
    }

    public func claim(of task: TaskName) throws(BackendError) -> TaskClaim? {
        try withState { s, now in visible(s, task).map { claimView($0, now) } }
    }

    /// As the `task_void` script: deletes the claim if it is still run `runId`'s and running.
    public func void(_ task: TaskName, runId: String) throws(BackendError) -> Bool {
        try withState { s, _ in
            guard let c = s.claims[task], c.claim.runId == runId, c.claim.state == .running else { return false }
            s.claims[task] = nil
            return true
        }
    }

    /// A running claim from another server is void; a completed one still counts.
    private func visible(_ s: State, _ task: TaskName) -> Claim? {
        guard let c = s.claims[task] else { return nil }
        return c.claim.state == .running && foreign(s, "task:\(task.value)") ? nil : c
    }

    public func knownTasks() throws(BackendError) -> [TaskName] {
        try withState { s, _ in Array(s.taskCounters.keys) }
    }
}

/// The guardrails as a value, for tests that call a store directly.
public extension LeaseStore {
    func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: Guardrails) throws(BackendError) -> AcquireResult {
        try acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: { guardrails })
    }

    func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
               guardrails: Guardrails = .none) throws(BackendError) -> RenewResult {
        try renew(lease, holder: holder, ttlMs: ttlMs, fencingToken: fencingToken, guardrails: { guardrails })
    }
}

public extension ClaimStore {
    func claim(_ request: ClaimRequest, runId: String, guardrails: Guardrails) throws(BackendError) -> ClaimResult {
        try claim(request, runId: runId, guardrails: { guardrails })
    }

    func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int,
                guardrails: Guardrails = .none) throws(BackendError) -> ExtendResult {
        try extend(task, runId: runId, holder: holder, lockAtMostMs: lockAtMostMs, guardrails: { guardrails })
    }
}

/// Captures history events instead of writing them.
public final class RecordingHistory: HistoryRecorder, HistoryStore {
    private let events = Mutex<[HistoryEvent]>([])
    private let failing = Mutex(false)
    public init() {}
    public func record(_ event: HistoryEvent) { events.withLock { $0.append(event) } }
    public func write(_ batch: [HistoryEvent]) throws(BackendError) {
        if failing.withLock({ $0 }) { throw BackendError(.connect, "recording history is failing") }
        events.withLock { $0.append(contentsOf: batch) }
    }
    public var recorded: [HistoryEvent] { events.withLock { $0 } }
    public func setFailing(_ f: Bool) { failing.withLock { $0 = f } }
}

public extension Decision {
    /// The value of a 200 answer, nil otherwise.
    var value: Value? {
        if case .ok(let v) = self { return v }
        return nil
    }
}
