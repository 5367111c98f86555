public import BatonCore
public import BatonSupport
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
    /// Shared schedules (`/schedules`); nil answers 503 there.
    public var schedules: (any ScheduleStore)? = nil
    /// Wall time for what the API itself stamps (schedule saves).
    public var clock: any Clock = SystemClock()
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

    /// History reads behind ``postgresBreaker``.
    public var historyService: HistoryService { HistoryService(reader: history, breaker: postgresBreaker) }
    /// The shared schedules behind the PostgreSQL breaker; nil when this batond has no store.
    public var scheduleService: ScheduleService? { schedules.map { ScheduleService(store: $0, breaker: postgresBreaker) } }
}

/// Request defaults from configuration.
public struct Defaults: Sendable {
    public var leaseTTLMs: Int = 30_000
    public var lockAtMostMs: Int = 3_600_000
    public var lockAtLeastMs: Int = 0
    public init() {}
}

/// One master of a Redis Cluster and the slots it owns, for `/status`.
public struct RedisShard: Sendable {
    public var master: String
    public var replicas: [String]
    /// Slot ranges, `first-last`.
    public var slots: [String]
    public init(master: String, replicas: [String], slots: [String]) {
        self.master = master
        self.replicas = replicas
        self.slots = slots
    }
}

/// How batond reaches Redis and what it saw of failovers, for `/status`.
public struct RedisTopology: Sendable {
    /// `standalone`, `sentinel` or `cluster`.
    public var mode: String
    /// Under Cluster: every master with its slots (empty otherwise).
    public var shards: [RedisShard] = []
    /// Under Cluster: MOVED/ASK redirections followed, slot migrations seen.
    public var redirects = 0
    public var migrations = 0
    /// The master connections go to (under Sentinel, as the sentinels last named it).
    public var master: String?
    public var failovers: Int
    public var lastFailoverAtMs: Int64?
    public var lastFailover: String?
    public var lastError: String?
    /// Commands sent through the shared pipelined connection (``BATON_REDIS_PIPELINE``),
    /// nil when it is off.
    public var pipelinedCommands: Int?
    public init(mode: String, master: String?, failovers: Int = 0, lastFailoverAtMs: Int64? = nil, lastFailover: String? = nil,
                lastError: String? = nil) {
        self.mode = mode
        self.master = master
        self.failovers = failovers
        self.lastFailoverAtMs = lastFailoverAtMs
        self.lastFailover = lastFailover
        self.lastError = lastError
    }
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
        /// What the last check of the Redis server found (see `redisChecked`).
        var redisMode: String?
        var redisRole: String?
        var redisReplicationOffset: Int64?
        var redisCheckWarnings: [String] = []
        var redisTopology: (@Sendable () -> RedisTopology)?
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

    /// Records the last look at the Redis server: its mode and role, its replication
    /// offset, and what batond may not do there.
    public func redisChecked(mode: String?, role: String?, replicationOffset: Int64?, warnings: [String]) {
        mutable.withLock { m in
            m.redisMode = mode
            m.redisRole = role
            m.redisReplicationOffset = replicationOffset
            m.redisCheckWarnings = warnings
        }
    }

    /// Where `/status` reads the Redis mode, master and failovers from.
    public func setRedisTopology(_ provider: @escaping @Sendable () -> RedisTopology) {
        mutable.withLock { $0.redisTopology = provider }
    }

    public func setDraining() { mutable.withLock { $0.draining = true } }
    public var draining: Bool { mutable.withLock { $0.draining } }
    var snapshot: Mutable { mutable.withLock { $0 } }
}
