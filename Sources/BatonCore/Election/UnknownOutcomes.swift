import Synchronization

/// Grants whose outcome is unknown: the acquire or claim was sent to Redis and no answer
/// came back (timeout, broken connection), so the caller was told 503 while Redis may hold
/// a new tenure or claim. A tenure must not later be answered "renewed" to its holder
/// without being in the history, and a claim whose run id nobody learned would block its
/// task for `lock_at_most_ms`.
///
/// A background pass (``LeaderElection/reconcileUnknownOutcomes()``, and the task side)
/// reads each resource once Redis answers again: a tenure held by the caller is recorded
/// (the history insert is idempotent on lease and token), a claim with the run id batond
/// made up is voided. Bounded: at most `capacity` entries, each dropped after `deadlineMs`.
public final class UnknownOutcomes: Sendable {
    public struct Entry: Sendable, Equatable {
        public let resource: Resource
        /// The lease's caller, or the claim's run id.
        public let who: String
        public let ttlMs: Int
        public let deadlineMs: Int64
    }

    private let entries = Mutex<[Entry]>([])
    private let capacity: Int
    private let clock: any Clock

    public init(capacity: Int = 4_096, clock: any Clock = SystemClock()) {
        self.capacity = capacity
        self.clock = clock
    }

    /// Remembers an unanswered grant, for one TTL plus a minute.
    public func add(_ resource: Resource, who: String, ttlMs: Int) {
        let e = Entry(resource: resource, who: who, ttlMs: ttlMs, deadlineMs: clock.monotonicMs() + Int64(ttlMs) + 60_000)
        entries.withLock { list in
            list.removeAll { $0.resource == resource && $0.who == who }
            if list.count >= capacity { list.removeFirst() }
            list.append(e)
        }
    }

    /// The entries still worth looking at (expired ones are dropped).
    public func pending() -> [Entry] {
        let now = clock.monotonicMs()
        return entries.withLock { list in
            list.removeAll { $0.deadlineMs <= now }
            return list
        }
    }

    /// The entry was settled (recorded, voided, or found not to exist).
    public func settle(_ e: Entry) {
        entries.withLock { list in list.removeAll { $0 == e } }
    }

    public var count: Int { entries.withLock { $0.count } }
}
