public import BatonSupport
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

    private struct State {
        var entries: [Entry] = []
        /// Looked for and not found: perhaps on a server batond has since left (a proxy may
        /// route back to it), so kept until the deadline for ``take(_:who:)``.
        var checked: [Entry] = []
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let clock: any Clock

    public init(capacity: Int = 4_096, clock: any Clock = SystemClock()) {
        self.capacity = capacity
        self.clock = clock
    }

    /// Remembers an unanswered grant, for one TTL plus a minute.
    public func add(_ resource: Resource, who: String, ttlMs: Int) {
        let e = Entry(resource: resource, who: who, ttlMs: ttlMs, deadlineMs: clock.monotonicMs() + Int64(ttlMs) + 60_000)
        state.withLock { s in
            s.entries.removeAll { $0.resource == resource && $0.who == who }
            s.checked.removeAll { $0.resource == resource && $0.who == who }
            if s.entries.count + s.checked.count >= capacity {
                if s.checked.isEmpty { s.entries.removeFirst() } else { s.checked.removeFirst() }
            }
            s.entries.append(e)
        }
    }

    /// The entries still worth looking at (expired ones are dropped).
    public func pending() -> [Entry] {
        let now = clock.monotonicMs()
        return state.withLock { s in
            s.entries.removeAll { $0.deadlineMs <= now }
            s.checked.removeAll { $0.deadlineMs <= now }
            return s.entries
        }
    }

    /// The entry was settled (recorded or voided).
    public func settle(_ e: Entry) {
        state.withLock { s in s.entries.removeAll { $0 == e } }
    }

    /// The grant was not found where batond looks now; it may still exist on a server
    /// batond left, so a later answer naming it still finds it here (``take(_:who:)``).
    public func checkedAbsent(_ e: Entry) {
        state.withLock { s in
            guard let i = s.entries.firstIndex(of: e) else { return }
            s.checked.append(s.entries.remove(at: i))
        }
    }

    /// Removes and reports whether `who` had an unanswered grant of `resource`: a renewal
    /// answered to it must first put that tenure in the history.
    public func take(_ resource: Resource, who: String) -> Bool {
        state.withLock { s in
            let before = s.entries.count + s.checked.count
            s.entries.removeAll { $0.resource == resource && $0.who == who }
            s.checked.removeAll { $0.resource == resource && $0.who == who }
            return s.entries.count + s.checked.count != before
        }
    }

    public var count: Int { state.withLock { $0.entries.count + $0.checked.count } }
}
