import BatonCore

/// One ``RedisConnection`` per worker thread, opened lazily and reopened after a failure
/// (see ``PerThread`` for why per thread rather than a pool).
public final class PerThreadRedis: Sendable {
    public let endpoint: RedisEndpoint
    /// The server the connections reach; tells listeners when it changes.
    public let server: RedisServerIdentity
    /// Under Sentinel, who names the master (nil for redis:// and unix://).
    public let sentinel: SentinelMaster?
    private let connections: PerThread<RedisConnection>

    public init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        let server = RedisServerIdentity()
        self.server = server
        let sentinel = endpoint.sentinel.map { SentinelMaster(settings: $0, timeoutMs: endpoint.timeoutMs) }
        self.sentinel = sentinel
        connections = PerThread { RedisConnection(endpoint: endpoint, identity: server, master: sentinel) }
    }

    /// Where a connection of its own (the change feed's subscription) should go now: under
    /// Sentinel the master the sentinels name (asked at every call, so a reconnect follows a
    /// failover), else the configured endpoint. Falls back to the configured endpoint when no
    /// sentinel answers; that connect then fails and is retried.
    public func currentEndpoint() -> RedisEndpoint {
        guard let sentinel, let (master, _) = try? sentinel.master(maxAgeMs: 0) else { return endpoint }
        var resolved = endpoint
        resolved.address = .tcp(host: master.host, port: master.port)
        resolved.sentinel = nil
        return resolved
    }

    /// The calling thread's connection.
    public var connection: RedisConnection { connections.value }
}
