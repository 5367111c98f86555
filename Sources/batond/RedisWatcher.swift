import BatonAPI
import BatonCore
import BatonRedis
import BatonSupport

/// Looks at the Redis server (what it is, what the ACL allows, its eviction policy) at
/// start-up, saying in one line what it found, and every 30 s for `/status`.
final class RedisWatcher: Sendable {
    let redis: PerThreadRedis
    let facts: RuntimeFacts

    init(redis: PerThreadRedis, facts: RuntimeFacts) {
        self.redis = redis
        self.facts = facts
    }

    func start() {
        BackgroundThread.start(name: "baton-redis-watch") { [self] in
            // Every 30 s, and within a second of a failover (the new master's role and
            // offset belong in /status at once).
            var failovers = self.failoversSeen
            var last = MonotonicClock.milliseconds()
            while true {
                BackgroundThread.sleep(ms: 1_000)
                let now = self.failoversSeen
                guard now != failovers || MonotonicClock.milliseconds() - last >= 30_000 else { continue }
                failovers = now
                last = MonotonicClock.milliseconds()
                self.checkOnce(quiet: true)
            }
        }
    }

    private var failoversSeen: Int { redis.sentinel?.snapshot.failovers ?? redis.cluster?.snapshot.failovers ?? 0 }

    func checkOnce(quiet: Bool = false) {
        let check = RedisServerCheck.run(redis)
        if check.unreachable == nil {
            facts.redisServer(version: check.version, maxmemoryPolicy: check.maxmemoryPolicy)
            facts.redisChecked(mode: check.serverMode.isEmpty ? nil : check.serverMode, role: check.role.isEmpty ? nil : check.role,
                               replicationOffset: check.replicationOffset, warnings: check.warnings)
        }
        guard !quiet else { return }
        if let error = check.unreachable {
            Log.current.warn("redis unavailable at start-up; leases follow the breaker policy until it returns",
                             ["redis": .string(redis.endpoint.description), "error": .string(error.description)])
            return
        }
        var warnings = check.warnings
        if check.mayEvictLeases {
            warnings.append("redis maxmemory-policy is \(check.maxmemoryPolicy ?? "?"): it may evict lease keys; use noeviction")
        }
        let level: Log.Level
        let verdict: String
        if check.misconfiguration != nil || !check.aclDenied.isEmpty {
            (level, verdict) = (.error, "redis checked: misconfigured for batond; affected calls answer 503 with the code in warnings, never a degraded grant")
        } else if !warnings.isEmpty {
            (level, verdict) = (.warn, "redis checked: usable, with warnings (also in /status)")
        } else {
            (level, verdict) = (.info, "redis checked: usable")
        }
        Log.current.emit(level, verdict, [
            "redis": .string(redis.endpoint.description),
            "server_mode": .string(check.serverMode.isEmpty ? "unknown" : check.serverMode),
            "role": .string(check.role.isEmpty ? "unknown" : check.role),
            "version": .string(check.version ?? "unknown"),
            "maxmemory_policy": .string(check.maxmemoryPolicy ?? "unknown"),
            "acl": .string(check.aclDenied.isEmpty ? "ok" : "denied"),
            "info": .string(check.infoAllowed ? "ok" : "denied"),
            "config_get": .string(check.configAllowed ? "ok" : "denied"),
            "misconfiguration": .string(check.misconfiguration?.misconfiguration?.rawValue ?? "none"),
            "warnings": .string(warnings.joined(separator: " | ")),
        ])
    }
}
