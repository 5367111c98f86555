import BatonAPI
import BatonCore
import BatonRedis
import Foundation

/// Periodically reads what Redis says about itself (version, eviction policy) for
/// `/status`, and warns when the eviction policy may drop lease keys.
final class RedisWatcher: Sendable {
    let redis: PerThreadRedis
    let facts: RuntimeFacts

    init(redis: PerThreadRedis, facts: RuntimeFacts) {
        self.redis = redis
        self.facts = facts
    }

    func start() {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 30)
                self.checkOnce(quiet: true)
            }
        }
        thread.name = "baton-redis-watch"
        thread.start()
    }

    func checkOnce(quiet: Bool = false) {
        do {
            let info = try RedisServerInfo.fetch(redis)
            facts.redisServer(version: info.version, maxmemoryPolicy: info.maxmemoryPolicy)
            if info.mayEvictLeases && !quiet {
                Log.current.warn("redis maxmemory-policy may evict lease keys; use noeviction",
                                 ["maxmemory_policy": .string(info.maxmemoryPolicy ?? "?")])
            }
        } catch {
            if !quiet {
                Log.current.warn("redis unavailable at start-up; leases follow the breaker policy until it returns",
                                 ["error": .string(error.description)])
            }
        }
    }
}
