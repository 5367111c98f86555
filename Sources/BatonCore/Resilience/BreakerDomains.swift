import Synchronization

/// One circuit breaker per failure domain of a backend, chosen by the store.
///
/// A standalone or Sentinel-managed Redis is one server: one breaker (``primary``), the
/// store names no domain. Under Redis Cluster each shard fails on its own: the store names
/// the master owning the resource's slot, and the breaker for that master alone counts its
/// failures and opens, so a failover of one shard gives degraded answers (or 503s) for that
/// shard's leases and tasks only. After a failover the slot's owner is another master,
/// with its own (closed) breaker: the promoted replica is tried at once instead of after
/// the old master's cooldown. Calls that span every shard (GET /leases, GET /tasks) use
/// ``primary``.
public final class BreakerDomains: Sendable {
    /// Most domains kept: Redis Cluster's recommended maximum is 1000 nodes, and the store
    /// names only nodes the cluster's slot map named.
    public static let limit = 1024

    public let primary: CircuitBreaker
    private let make: @Sendable () -> CircuitBreaker
    private let breakers = Mutex<[String: CircuitBreaker]>([:])

    /// - Parameter make: a new breaker for a domain seen for the first time (by default
    ///   with the primary's threshold and cooldown).
    public init(primary: CircuitBreaker, make: (@Sendable () -> CircuitBreaker)? = nil) {
        self.primary = primary
        self.make = make ?? { CircuitBreaker(backend: primary.backend, threshold: primary.threshold, cooldownMs: primary.cooldownMs) }
    }

    /// The breaker of `domain`; ``primary`` for nil (the store has one server).
    public func breaker(for domain: String?) -> CircuitBreaker {
        guard let domain else { return primary }
        return breakers.withLock { b in
            if let existing = b[domain] { return existing }
            let made = make()
            if b.count < Self.limit { b[domain] = made }
            return made
        }
    }

    /// Every domain's breaker, by name.
    public func snapshots() -> [(domain: String, snapshot: CircuitBreaker.Snapshot)] {
        breakers.withLock { b in b.map { ($0.key, $0.value.snapshot()) } }.sorted { $0.domain < $1.domain }
    }

    /// The domain breakers' states, for the incident page (primary excluded).
    public var anyOpen: Bool { breakers.withLock { b in b.values.contains { $0.state != .closed } } }

    /// Lets every open breaker probe now (see ``CircuitBreaker/allowProbeNow()``).
    public func allowProbeNow() {
        primary.allowProbeNow()
        for b in breakers.withLock({ Array($0.values) }) { b.allowProbeNow() }
    }
}
