import BatonCore

/// One ``RedisConnection`` per worker thread, opened lazily and reopened after a failure
/// (see ``PerThread`` for why per thread rather than a pool).
public final class PerThreadRedis: Sendable {
    public let endpoint: RedisEndpoint
    /// The server the connections reach; tells listeners when it changes.
    public let server: RedisServerIdentity
    private let connections: PerThread<RedisConnection>

    public init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        let server = RedisServerIdentity()
        self.server = server
        connections = PerThread { RedisConnection(endpoint: endpoint, identity: server) }
    }

    /// The calling thread's connection.
    public var connection: RedisConnection { connections.value }
}
