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
public final class DurableFencingFloor: FencingFloor {
    private struct Entry {
        var floor: Int64 = 0
        var liveUntilMs: Int64 = 0  // wall clock
        var carriedUntilMs: Int64 = 0  // wall clock: grants made under an earlier server
        var loadedFromHistory = false
        var lastAttemptMs: Int64?  // monotonic; nil before the first read of the history
    }

    private struct State {
        var entries: [Resource: Entry] = [:]
        /// When the Redis server last changed (wall clock), nil if it has not since
        /// start-up. The history then describes grants made under an earlier server.
        var changedAtMs: Int64?
    }

    private let history: (any HistoryReader)?
    private let breaker: CircuitBreaker?
    private let clock: any Clock
    private let retryMs: Int64
    private let state = Mutex(State())

    /// - Parameters:
    ///   - history: nil for an in-memory floor only.
    ///   - breaker: the PostgreSQL breaker, so a down database is not asked on every call.
    public init(history: (any HistoryReader)? = nil, breaker: CircuitBreaker? = nil, clock: any Clock = SystemClock(),
                retryMs: Int64 = 5_000) {
        self.history = history
        self.breaker = breaker
        self.clock = clock
        self.retryMs = retryMs
    }

    public func guardrails(for resource: Resource) -> Guardrails {
        let now = clock.wallMs()
        let mono = clock.monotonicMs()
        let (entry, shouldLoad) = state.withLock { s -> (Entry, Bool) in
            var entry = s.entries[resource] ?? Entry()
            let load = history != nil && !entry.loadedFromHistory && entry.lastAttemptMs.map { mono - $0 >= retryMs } ?? true
            if load { entry.lastAttemptMs = mono }
            s.entries[resource] = entry
            return (entry, load)
        }
        guard shouldLoad, let history, let durable = load(history, resource) else { return rails(entry, now) }
        return state.withLock { s in
            var entry = s.entries[resource] ?? Entry()
            let until = now + Int64(durable.recoveryWindowMs)
            entry.floor = max(entry.floor, durable.floor)
            entry.liveUntilMs = max(entry.liveUntilMs, until)
            // A grant in the history was last renewed under the earlier server, so before
            // the change: it may be believed for at most its TTL from then.
            if let changed = s.changedAtMs {
                entry.carriedUntilMs = max(entry.carriedUntilMs, changed + Int64(durable.recoveryWindowMs))
            }
            entry.loadedFromHistory = true
            s.entries[resource] = entry
            return rails(entry, now)
        }
    }

    public func observe(_ token: FencingToken, ttlMs: Int, for resource: Resource) {
        let now = clock.wallMs()
        state.withLock { s in
            var entry = s.entries[resource] ?? Entry()
            entry.floor = max(entry.floor, token.value)
            entry.liveUntilMs = max(entry.liveUntilMs, now + Int64(ttlMs))
            s.entries[resource] = entry
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

    public func storeChanged() {
        let now = clock.wallMs()
        state.withLock { s in
            s.changedAtMs = now
            for key in s.entries.keys {
                s.entries[key]!.carriedUntilMs = max(s.entries[key]!.carriedUntilMs, s.entries[key]!.liveUntilMs)
                s.entries[key]!.loadedFromHistory = false
                s.entries[key]!.lastAttemptMs = nil
            }
        }
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
