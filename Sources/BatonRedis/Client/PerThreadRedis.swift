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

    /// The calling thread's connection.
    public var connection: RedisConnection { connections.value }
}
