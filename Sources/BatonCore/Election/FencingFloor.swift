public import BatonSupport
import Synchronization

/// A lease or a task: the two things that carry fencing tokens.
public enum Resource: Hashable, Sendable, CustomStringConvertible {
    case lease(LeaseName)
    case task(TaskName)

    public var description: String {
        switch self {
        case .lease(let l): return "lease \(l.value)"
        case .task(let t): return "task \(t.value)"
        }
    }
}

/// What the store needs to stay safe when Redis forgets (a restart without persistence,
/// a failover to a replica that missed the last writes).
public struct Guardrails: Sendable, Equatable {
    /// A new token must be above this: the highest token known to have been handed out.
    public var floor: Int64
    /// How long a tenure or claim granted before may still be believed valid by its
    /// holder. When the store finds it lost a resource's data (or the data was written by
    /// an earlier server), new tenures wait this long, so a holder that still believes it
    /// leads has run out before anyone else starts (the "delayed restart" rule of the
    /// Redlock analysis, applied by the service).
    public var recoveryWindowMs: Int
    /// How long a tenure or claim this process granted under an earlier Redis server may
    /// still be believed valid. New tenures wait this long whatever the store says: another
    /// Baton replica may already have settled the resource under the new server, knowing
    /// nothing of this process's grants.
    public var carriedWindowMs: Int

    public init(floor: Int64 = 0, recoveryWindowMs: Int = 0, carriedWindowMs: Int = 0) {
        self.floor = floor
        self.recoveryWindowMs = recoveryWindowMs
        self.carriedWindowMs = carriedWindowMs
    }

    public static let none = Guardrails()
}

/// Supplies ``Guardrails`` and learns from every token handed out.
public protocol FencingFloor: Sendable {
    func guardrails(for resource: Resource) -> Guardrails
    func observe(_ token: FencingToken, ttlMs: Int, for resource: Resource)
    /// The current tenure or claim ended (released, completed in time): nobody believes
    /// in it any more.
    func observeEnd(for resource: Resource)
    /// The store is now a different server (a restart or a failover): everything granted
    /// so far may be unknown to it.
    func storeChanged()
    /// How many times the store changed server in a way that may leave a grant answered
    /// by the server just left (see ``DurableFencingFloor/storeChanged(fencingGrantsInFlight:)``):
    /// a grant whose call saw this number move is voided.
    var serverSwitches: Int { get }
    /// Whether a grant whose call began at `serverSwitches == start` may have been answered
    /// by a server another worker has since left: the number moved, and not only by the
    /// calling thread reaching the newest server itself before it sent the command.
    func switchedUnderneath(since start: Int) -> Bool
}

extension FencingFloor {
    public var serverSwitches: Int { 0 }
    public func switchedUnderneath(since start: Int) -> Bool { serverSwitches != start }
}

/// No floor and no recovery window: the store's counter alone decides.
public struct NoFencingFloor: FencingFloor {
    public init() {}
    public func guardrails(for resource: Resource) -> Guardrails { .none }
    public func observe(_ token: FencingToken, ttlMs: Int, for resource: Resource) {}
    public func observeEnd(for resource: Resource) {}
    public func storeChanged() {}
}

/// Guardrails from what this process has handed out, raised once per resource by the
/// durable history in PostgreSQL (so a restarted Baton remembers too).
///
/// For each resource it keeps the highest token and the latest moment a grant it knows
/// of may still be believed valid (`grant time + ttl`, pushed on by renewals and
/// extensions it served). The history is read at most once per resource and Redis server
/// while PostgreSQL answers, and retried no more often than every `retryMs` while it does
/// not; the hot path is one dictionary lookup under a lock.
///
/// When the Redis server changes (``storeChanged()``), what was granted until then is
/// carried: ``Guardrails/carriedWindowMs`` covers it until it has run out, and the history
/// is read again (another replica's grants are there, not in this process).
///
/// Memory is bounded although clients name the resources: above `capacity` entries, the
/// least recently used ones whose windows have run out are dropped, and their highest
/// token becomes the starting floor of every entry made from then on. A dropped resource
/// may so get a higher token than it needs, never a lower one; an entry whose window is
/// still open is never dropped (there are as many as there are live grants).
public final class DurableFencingFloor: FencingFloor {
    private struct Entry {
        var floor: Int64 = 0
        var liveUntilMs: Int64 = 0  // wall clock
        var carriedUntilMs: Int64 = 0  // wall clock: grants made under an earlier server
        var loadedFromHistory = false
        var lastAttemptMs: Int64?  // monotonic; nil before the first read of the history
        var usedAtMs: Int64 = 0  // monotonic: which entries to drop first
    }

    private struct State {
        var entries: [Resource: Entry] = [:]
        /// When the Redis server last changed (wall clock), nil if it has not since
        /// start-up. The history then describes grants made under an earlier server.
        var changedAtMs: Int64?
        /// How many times the whole store changed server (``serverSwitches``).
        var switches = 0
        /// The highest floor of any dropped entry: where new entries start.
        var droppedFloor: Int64 = 0
        /// The next sweep's trigger: when most entries are live and cannot go, the next
        /// sweep waits for a tenth of `capacity` more, so requests do not each sort them all.
        var sweepAbove: Int?

        /// `body` on the resource's entry, made if missing, in one hash lookup (a read and a
        /// write back were two, both on every `POST /leader`: ~600 instructions, issue 17).
        mutating func withEntry<R>(_ resource: Resource, _ body: (inout Entry) -> R) -> R {
            let start = droppedFloor
            return body(&entries[resource, default: Entry(floor: start)])
        }

        /// Drops expired entries, least recently used first, down to 90 % of `capacity`.
        mutating func bound(_ capacity: Int, wallMs now: Int64) {
            guard entries.count > (sweepAbove ?? capacity) else { return }
            defer { sweepAbove = max(capacity, entries.count + capacity / 10) }
            let expired = entries.filter { $0.value.liveUntilMs <= now && $0.value.carriedUntilMs <= now }
                .sorted { $0.value.usedAtMs < $1.value.usedAtMs }
            for (resource, entry) in expired.prefix(entries.count - capacity * 9 / 10) {
                droppedFloor = max(droppedFloor, entry.floor)
                entries[resource] = nil
            }
        }
    }

    private let history: (any HistoryReader)?
    private let breaker: CircuitBreaker?
    private let clock: any Clock
    private let retryMs: Int64
    private let capacity: Int
    private let state = Mutex(State())
    /// The number of the last switch each thread made (see ``switchedUnderneath(since:)``).
    private let switchMadeHere = PerThread { SwitchMark() }

    /// - Parameters:
    ///   - history: nil for an in-memory floor only.
    ///   - breaker: the PostgreSQL breaker, so a down database is not asked on every call.
    ///   - capacity: how many resources to remember before dropping expired ones.
    public init(history: (any HistoryReader)? = nil, breaker: CircuitBreaker? = nil, clock: any Clock = SystemClock(),
                retryMs: Int64 = 5_000, capacity: Int = 50_000) {
        self.history = history
        self.breaker = breaker
        self.clock = clock
        self.retryMs = retryMs
        self.capacity = max(1, capacity)
    }

    /// How many resources the floor holds an entry for (bounded by `capacity` plus the
    /// resources with an open window).
    package var trackedResources: Int { state.withLock { $0.entries.count } }

    public func guardrails(for resource: Resource) -> Guardrails {
        let now = clock.wallMs()
        let mono = clock.monotonicMs()
        let hasHistory = history != nil, retryMs = retryMs
        let (entry, shouldLoad) = state.withLock { s -> (Entry, Bool) in
            let touched = s.withEntry(resource) { entry -> (Entry, Bool) in
                let load = hasHistory && !entry.loadedFromHistory && entry.lastAttemptMs.map { mono - $0 >= retryMs } ?? true
                if load { entry.lastAttemptMs = mono }
                entry.usedAtMs = mono
                return (entry, load)
            }
            s.bound(capacity, wallMs: now)
            return touched
        }
        guard shouldLoad, let history, let durable = load(history, resource) else { return rails(entry, now) }
        return state.withLock { s in
            let changed = s.changedAtMs
            return s.withEntry(resource) { entry in
                entry.floor = max(entry.floor, durable.floor)
                entry.liveUntilMs = max(entry.liveUntilMs, now + Int64(durable.recoveryWindowMs))
                // A grant in the history was last renewed under the earlier server, so before
                // the change: it may be believed for at most its TTL from then.
                if let changed {
                    entry.carriedUntilMs = max(entry.carriedUntilMs, changed + Int64(durable.recoveryWindowMs))
                }
                entry.loadedFromHistory = true
                return rails(entry, now)
            }
        }
    }

    public func observe(_ token: FencingToken, ttlMs: Int, for resource: Resource) {
        let now = clock.wallMs()
        let mono = clock.monotonicMs()
        state.withLock { s in
            s.withEntry(resource) { entry in
                entry.floor = max(entry.floor, token.value)
                entry.liveUntilMs = max(entry.liveUntilMs, now + Int64(ttlMs))
                entry.usedAtMs = mono
            }
            s.bound(capacity, wallMs: now)
        }
    }

    public func observeEnd(for resource: Resource) {
        let now = clock.wallMs()
        state.withLock { s in
            guard var entry = s.entries[resource] else { return }
            entry.liveUntilMs = min(entry.liveUntilMs, now)
            s.entries[resource] = entry
        }
    }

    public func storeChanged() { storeChanged(fencingGrantsInFlight: true) }

    /// - Parameter fencingGrantsInFlight: the whole store changed server, so a grant made
    ///   concurrently may come from the server just left (true); false under Cluster, where
    ///   one shard's change says nothing about grants on the others.
    ///
    /// Counted in the same lock as the carried windows: a grant that read ``serverSwitches``
    /// unchanged after its ``observe(_:ttlMs:for:)`` is carried by every later change, and
    /// one that sees it moved is voided by its caller (chaos/proxy.py).
    public func storeChanged(fencingGrantsInFlight: Bool) {
        let now = clock.wallMs()
        let number = state.withLock { s -> Int? in
            s.changedAtMs = now
            if fencingGrantsInFlight { s.switches += 1 }
            for key in s.entries.keys {
                s.entries[key]!.carriedUntilMs = max(s.entries[key]!.carriedUntilMs, s.entries[key]!.liveUntilMs)
                s.entries[key]!.loadedFromHistory = false
                s.entries[key]!.lastAttemptMs = nil
            }
            return fencingGrantsInFlight ? s.switches : nil
        }
        // Called on the thread whose new connection found the new server, before it sends
        // its command (``RedisServerIdentity/onChange``): that command goes to the newest server.
        if let number { switchMadeHere.value.number = number }
    }

    public var serverSwitches: Int { state.withLock { $0.switches } }

    /// A switch the calling thread made itself, as the latest, is not "underneath" it: voiding
    /// that answer would refuse the first grant after every Redis restart (a claim so refused
    /// skips its slot: TaskHTTPTests.aSlotCompletedBeforeRedisForgotStaysDone).
    public func switchedUnderneath(since start: Int) -> Bool {
        let now = serverSwitches
        return now != start && switchMadeHere.value.number != now
    }

    private func rails(_ entry: Entry, _ now: Int64) -> Guardrails {
        Guardrails(floor: entry.floor, recoveryWindowMs: Int(max(0, entry.liveUntilMs - now)),
                   carriedWindowMs: Int(max(0, entry.carriedUntilMs - now)))
    }

    private func load(_ history: any HistoryReader, _ resource: Resource) -> Guardrails? {
        let read = { () throws(BackendError) -> Guardrails in try history.guardrails(for: resource) }
        guard let breaker else { return try? read() }
        if case .success(let r) = breaker.run(read) { return r }
        return nil
    }
}

/// One thread's record of the last server switch it made; only that thread touches it.
private final class SwitchMark {
    var number = 0
}
