import BatonAPI
import BatonCore
import BatonHTTP
import BatonPostgres
import BatonRedis
import BatonSupport

/// The running service: every component, built once from the configuration.
final class Application: Sendable {
    let config: Configuration
    let redis: PerThreadRedis
    let postgres: PerThreadPostgres
    let history: PostgresHistory
    let outbox: HistoryOutbox
    let facts: RuntimeFacts
    let server: HTTPServer
    let watcher: RedisWatcher
    let sentinelWatcher: SentinelWatcher?
    let clusterWatcher: ClusterWatcher?
    let reconciler: OutcomeReconciler
    let watches: WatchHub
    let events: EventBus
    let changeFeed: RedisChangeFeed

    init(config: Configuration) throws {
        self.config = config
        let log = Log.current
        let endpoint = try RedisEndpoint(url: config.redisURL, timeoutMs: config.redisTimeoutMs)
        // WAIT holds its connection until replicas answer: shared, it would hold up every command.
        redis = PerThreadRedis(endpoint: endpoint, pipelined: config.redisPipeline && config.redisWaitReplicas == 0)
        let pgSettings = PostgresSettings(url: config.databaseURL, timeoutMs: config.pgTimeoutMs)
        postgres = PerThreadPostgres(settings: pgSettings)
        history = PostgresHistory(db: postgres)
        // A full outbox drops rows on every write while PostgreSQL is away: a few lines a
        // minute say so (the total is in /status and /metrics).
        let dropLines = LogLimiter(limit: 6, windowMs: 60_000)
        outbox = HistoryOutbox(store: history, capacity: config.outboxCapacity) { dropped in
            guard let suppressed = dropLines.admit() else { return }
            Log.current.error("history outbox full: dropped oldest rows",
                              ["dropped": .int(Int64(dropped)), "lines_suppressed_before": .int(Int64(suppressed))])
        }
        let redisBreaker = CircuitBreaker(backend: .redis, threshold: config.breakerThreshold, cooldownMs: Int64(config.breakerCooldownMs))
        // Under Cluster one breaker per shard master, so one shard's failover answers only
        // that shard's leases with the fallback (see BreakerDomains).
        let redisBreakers = BreakerDomains(primary: redisBreaker)
        let pgBreaker = CircuitBreaker(backend: .postgres, threshold: config.breakerThreshold, cooldownMs: Int64(config.breakerCooldownMs))
        let metrics = Metrics()
        let directory = try JellyfinTokenDirectory(db: postgres, schema: config.jellyfinSchema)
        facts = RuntimeFacts(version: BatonVersion.current, startedAtMs: SystemClock().wallMs(), redisEndpoint: endpoint.description,
                             postgresEndpoint: pgSettings.redacted, authDisabled: !config.authRequired, onRedisFailure: config.onRedisFailure)
        // Tokens never go backwards and a Redis that lost its data gets a recovery window:
        // the floor remembers what this process granted and reads the durable history once.
        let floor = DurableFencingFloor(history: history, breaker: pgBreaker)
        // A restart or a failover of Redis may have lost, or never seen, the latest grants:
        // the scripts void what the new server holds (see FencingLua), and this process
        // carries what it granted into it, so no new tenure overlaps one still believed.
        let wholeStore = redis.cluster == nil
        redis.server.onChange { old, new in
            floor.storeChanged(fencingGrantsInFlight: wholeStore)
            metrics.redisServerChanged()
            Log.current.warn("redis server changed (restart or failover): earlier tenures and claims end; new ones wait until they have run out",
                             ["previous_run_id": .string(String(old.prefix(12))), "run_id": .string(String(new.prefix(12)))])
        }
        let sentinel = redis.sentinel
        sentinelWatcher = sentinel.map(SentinelWatcher.init)
        if let sentinel {
            // A new master is reachable: probe it at once rather than keep answering with
            // the fallback until the cooldown ends.
            sentinel.onFailover { failover in
                metrics.redisFailoverFollowed()
                redisBreaker.allowProbeNow()
                Log.current.warn("redis sentinel failover followed: every worker reconnects to the new master before its next command",
                                 ["from": .string(failover.from), "to": .string(failover.to)])
            }
        }
        let cluster = redis.cluster
        clusterWatcher = cluster.map(ClusterWatcher.init)
        if let cluster {
            cluster.onFailover { failover in
                // Slots now on another server (which may have missed writes): carry what this
                // process granted, as for a change of run_id under Sentinel. All resources are
                // carried, not only that shard's (the floor does not know slots); that only holds
                // off new tenures of leases this process believes live, which are held anyway.
                floor.storeChanged(fencingGrantsInFlight: false)
                metrics.redisFailoverFollowed()
                redisBreakers.allowProbeNow()
                Log.current.warn("redis cluster slots changed master (failover or migration): commands for them go to the new master",
                                 ["from": .string(failover.from), "to": .string(failover.to)])
            }
        }
        let pipeline = redis.pipeline
        facts.setRedisTopology {
            if let cluster {
                let s = cluster.snapshot
                var t = RedisTopology(mode: "cluster", master: s.shards.map(\.master).joined(separator: ","), failovers: s.failovers,
                                      lastFailoverAtMs: s.lastFailover?.atMs, lastFailover: s.lastFailover.map { "\($0.from) -> \($0.to)" },
                                      lastError: s.lastError)
                t.shards = s.shards.map { RedisShard(master: $0.master, replicas: $0.replicas, slots: $0.slots) }
                t.redirects = s.redirects
                t.migrations = s.migrations
                return t
            }
            guard let sentinel else {
                var t = RedisTopology(mode: "standalone", master: endpoint.description)
                t.pipelinedCommands = pipeline?.commandsSent
                return t
            }
            let s = sentinel.snapshot
            return RedisTopology(mode: "sentinel", master: s.master, failovers: s.failovers, lastFailoverAtMs: s.lastFailover?.atMs,
                                 lastFailover: s.lastFailover.map { "\($0.from) -> \($0.to)" }, lastError: s.lastError)
        }
        let wait = config.redisWaitReplicas > 0 ? ReplicaWait(replicas: config.redisWaitReplicas, timeoutMs: config.redisWaitMs) : nil
        // Run metrics see every claim and completion on its way to the outbox.
        let recorder = ObservedHistory(outbox, runs: metrics.runs)
        var services = Services(
            election: LeaderElection(store: RedisLeaseStore(redis: redis, wait: wait), breaker: redisBreaker, defaultPolicy: config.onRedisFailure,
                                     history: recorder, fencingFloor: floor, events: metrics, breakers: redisBreakers),
            tasks: TaskCoordinator(store: RedisClaimStore(redis: redis, wait: wait), breaker: redisBreaker, defaultPolicy: config.onRedisFailure,
                                   history: recorder, fencingFloor: floor, completedSlots: HistorySlots(history: history, breaker: pgBreaker),
                                   events: metrics, breakers: redisBreakers),
            sessions: SessionValidator(directory: directory, breaker: pgBreaker, cacheTTLMs: Int64(config.sessionCacheTTLMs)),
            history: history, outbox: outbox, postgresBreaker: pgBreaker, facts: facts,
            defaults: { var d = Defaults(); d.leaseTTLMs = config.defaultTTLMs; return d }())
        services.schedules = PostgresSchedules(db: postgres, history: history)
        // Blocking reads: one change feed (a Redis subscription) per process wakes the held requests.
        watches = WatchHub(limit: config.watchLimit)
        events = EventBus(limit: config.eventStreamLimit)
        services.watching = Watching(index: RedisChangeIndex(redis: redis), hub: watches, events: events)
        changeFeed = RedisChangeFeed(endpoint: { [redis] in redis.currentEndpoint() }, listener: ExpiryModeLog(watches, events),
                                     keyspaceEvents: redis.cluster == nil)
        let auth = BearerAuth(tokens: config.authRequired ? TokenSet(config.apiTokens) : nil)
        var settings = ServerSettings(listen: config.listen, threads: config.threads)
        settings.maxBodyBytes = 64 * 1024
        settings.headerTimeoutMs = config.headerTimeoutMs
        // Client connections must not take the descriptors Redis and PostgreSQL need.
        settings.connectionLimit = FileLimit.connectionLimit(wanted: settings.connectionLimit, threads: config.threads,
                                                             fileLimit: FileLimit.raiseToHard())
        server = HTTPServer(settings: settings, handler: BatonService(services: services, auth: auth, metrics: metrics,
                                                                      authorizationRules: config.authorizationRules, ui: config.ui),
                            observer: AccessLog())
        watcher = RedisWatcher(redis: redis, facts: facts)
        reconciler = OutcomeReconciler(election: services.election, tasks: services.tasks)
        if !config.authRequired {
            log.warn("authentication is disabled (BATON_AUTH=disabled): anyone who can reach batond can take leases")
        }
    }

    func start() throws {
        let log = Log.current
        watcher.checkOnce()
        do {
            try history.ensureMigrated()
            log.info("postgres schema baton is up to date")
        } catch {
            log.warn("postgres unavailable at start-up; history waits in the outbox and migrations are retried",
                     ["error": .string(error.description)])
        }
        outbox.start()
        sentinelWatcher?.start()
        clusterWatcher?.start()
        reconciler.start()
        watcher.start()
        watches.start()
        events.start()
        changeFeed.start()
        try server.start()
        log.info("batond listening", [
            "listen": .string(config.listen), "port": .int(Int64(server.port)), "threads": .int(Int64(config.threads)),
            "connection_limit": .int(Int64(server.settings.connectionLimit)),
            "header_timeout_ms": .int(Int64(server.settings.headerTimeoutMs)),
            "redis": .string(facts.redisEndpoint), "postgres": .string(facts.postgresEndpoint),
            "on_redis_failure": .string(config.onRedisFailure.rawValue), "version": .string(BatonVersion.current),
        ])
        log.info("sessions/validate reads the Jellyfin token by \(config.authorizationRules.summary)",
                 ["legacy_auth": .string(config.authorizationRules.rawValue)])
    }

    /// Graceful stop: refuse new connections, finish in-flight requests, flush history.
    /// Bounded to finish well within Kubernetes' default 30 s grace and our 10 s promise.
    func stop(reason: String) {
        let log = Log.current
        log.info("shutting down", ["signal": .string(reason)])
        facts.setDraining()
        changeFeed.stop()
        watches.stop()
        events.stop()
        let cut = server.stop(graceMs: 6_000)
        let unwritten = outbox.shutdown(timeoutMs: 2_500)
        if unwritten > 0 {
            log.error("history rows not written at shutdown", ["rows": .int(Int64(unwritten))])
        }
        log.info("stopped", ["requests_cut_off": .int(Int64(cut)), "history_unwritten": .int(Int64(unwritten))])
    }
}
