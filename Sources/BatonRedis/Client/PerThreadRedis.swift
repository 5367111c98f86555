import BatonCore
import BatonSupport

/// One ``RedisConnection`` per worker thread, opened lazily and reopened after a failure
/// (see ``PerThread`` for why per thread rather than a pool); under redis-cluster:// one
/// per node per worker thread (``ClusterRouter``).
public final class PerThreadRedis: Sendable {
    public let endpoint: RedisEndpoint
    /// The server the connections reach; tells listeners when it changes (under Cluster:
    /// when any node restarts or a range of slots changes master).
    public let server: RedisServerIdentity
    /// Under Sentinel, who names the master (nil for redis:// and unix://).
    public let sentinel: SentinelMaster?
    /// Under Cluster, which master owns which slot (nil otherwise).
    public let cluster: ClusterSlotMap?
    private let connections: PerThread<RedisConnection>
    private let routers: PerThread<ClusterRouter>?
    /// The connection every thread sends `POST /leader`'s script to without waiting for the
    /// reply (nil: each thread waits on its own; see ``RedisPipeline``).
    public let pipeline: RedisPipeline?

    /// - Parameter pipelined: whether to open a ``RedisPipeline`` (for redis:// and
    ///   unix:// only: under Cluster a command has its node, and under Sentinel the blocking
    ///   connections' failover rules apply to every command).
    public init(endpoint: RedisEndpoint, pipelined: Bool = false) {
        self.endpoint = endpoint
        let server = RedisServerIdentity()
        self.server = server
        let sentinel = endpoint.sentinel.map { SentinelMaster(settings: $0, timeoutMs: endpoint.timeoutMs) }
        self.sentinel = sentinel
        let cluster = endpoint.clusterSeeds.map { ClusterSlotMap(seeds: $0, template: endpoint, server: server) }
        self.cluster = cluster
        if let cluster {
            let seed = cluster.seeds[0]
            connections = PerThread { RedisConnection(endpoint: cluster.endpoint(of: seed), identity: cluster.identity(of: seed), clusterNode: true) }
            routers = PerThread { ClusterRouter(map: cluster) }
            pipeline = nil
        } else {
            connections = PerThread { RedisConnection(endpoint: endpoint, identity: server, master: sentinel) }
            routers = nil
            pipeline = pipelined && sentinel == nil ? RedisPipeline(connection: RedisConnection(endpoint: endpoint, identity: server)) : nil
        }
    }

    /// Where a connection of its own (the change feed's subscription) should go now: under
    /// Sentinel the master the sentinels name (asked at every call, so a reconnect follows a
    /// failover), else the configured endpoint (under Cluster the first seed: PUBLISH reaches
    /// subscribers on every node). Falls back to the configured endpoint when no
    /// sentinel answers; that connect then fails and is retried.
    public func currentEndpoint() -> RedisEndpoint {
        guard let sentinel, let (master, _) = try? sentinel.master(maxAgeMs: 0) else { return endpoint }
        var resolved = endpoint
        resolved.address = .tcp(host: master.host, port: master.port)
        resolved.sentinel = nil
        return resolved
    }

    /// The calling thread's connection (under Cluster: to the first seed node, for checks).
    public var connection: RedisConnection { connections.value }

    /// The connection the start-up and periodic checks look through: under Cluster, to
    /// the first master of the slot map (a seed may be a replica by now).
    public var checkConnection: RedisConnection {
        guard let routers, let cluster, let first = cluster.masters().first else { return connection }
        return routers.value.connection(to: first)
    }

    /// Where a command on `key` goes: the thread's connection, or under Cluster the master
    /// owning the key's slot.
    /// The key is only made under Cluster (outside it, every key goes to the one server).
    public func route(forKey key: @autoclosure () -> String) -> any RedisCommanding {
        guard let routers else { return connection }
        return ClusterRoute(router: routers.value, slot: ClusterSlot.of(key()))
    }

    /// The calling thread's connection to every master (one outside Cluster), for SCAN.
    public func masterConnections() -> [RedisConnection] {
        guard let routers, let cluster else { return [connection] }
        let router = routers.value
        return cluster.masters().map { router.connection(to: $0) }
    }

    /// The master `key` lives on, as the breaker's failure domain (nil outside Cluster:
    /// one server, one breaker). The key is only built under Cluster (this is asked on
    /// every request).
    public func failureDomain(ofKey key: @autoclosure () -> String) -> String? {
        cluster?.owner(ofSlot: ClusterSlot.of(key()))?.description
    }
}
