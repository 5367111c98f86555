import BatonCore
import Synchronization

/// Everything the routes call into, wired by `batond`.
public struct Services: Sendable {
    public let election: LeaderElection
    public let tasks: TaskCoordinator
    public let sessions: SessionValidator
    public let history: any HistoryReader
    public let outbox: HistoryOutbox
    /// Guards history reads (and session lookups) against a failing PostgreSQL.
    public let postgresBreaker: CircuitBreaker
    public let facts: RuntimeFacts
    public let defaults: Defaults
    /// Blocking reads (`?index=&wait=`); nil: reads answer at once, without an index.
    public var watching: Watching?

    public init(election: LeaderElection, tasks: TaskCoordinator, sessions: SessionValidator, history: any HistoryReader,
                outbox: HistoryOutbox, postgresBreaker: CircuitBreaker, facts: RuntimeFacts, defaults: Defaults) {
        self.election = election
        self.tasks = tasks
        self.sessions = sessions
        self.history = history
        self.outbox = outbox
        self.postgresBreaker = postgresBreaker
        self.facts = facts
        self.defaults = defaults
    }

    public var redisBreaker: CircuitBreaker { election.breaker }
}

/// Request defaults from configuration.
public struct Defaults: Sendable {
    public var leaseTTLMs: Int = 30_000
    public var lockAtMostMs: Int = 3_600_000
    public var lockAtLeastMs: Int = 0
    public init() {}
}

/// Facts about this process and its backends, for `/status` and `/readyz`.
public final class RuntimeFacts: Sendable {
    public let version: String
    public let startedAtMs: Int64
    public let redisEndpoint: String
    public let postgresEndpoint: String
    public let authDisabled: Bool
    public let onRedisFailure: FailurePolicy
    private let mutable = Mutex(Mutable())

    struct Mutable {
        var redisVersion: String?
        var maxmemoryPolicy: String?
        var warnings: [String] = []
        var draining = false
    }

    public init(version: String, startedAtMs: Int64, redisEndpoint: String, postgresEndpoint: String,
                authDisabled: Bool, onRedisFailure: FailurePolicy) {
        self.version = version
        self.startedAtMs = startedAtMs
        self.redisEndpoint = redisEndpoint
        self.postgresEndpoint = postgresEndpoint
        self.authDisabled = authDisabled
        self.onRedisFailure = onRedisFailure
    }

    /// Records what Redis said about itself; warns when its eviction policy can drop leases.
    public func redisServer(version: String?, maxmemoryPolicy: String?) {
        mutable.withLock { m in
            m.redisVersion = version
            m.maxmemoryPolicy = maxmemoryPolicy
            m.warnings.removeAll { $0.hasPrefix("redis maxmemory-policy") }
            // Every lease and claim key has a TTL, so volatile-* policies evict exactly
            // those keys first; allkeys-* may evict them too. Only noeviction is safe.
            if let p = maxmemoryPolicy, p != "noeviction" {
                m.warnings.append("redis maxmemory-policy is \(p): under memory pressure Redis may evict lease and claim keys, so a live lease could vanish and be granted to a second holder; set maxmemory-policy noeviction")
            }
        }
    }

    public func setDraining() { mutable.withLock { $0.draining = true } }
    public var draining: Bool { mutable.withLock { $0.draining } }
    var snapshot: Mutable { mutable.withLock { $0 } }
}
