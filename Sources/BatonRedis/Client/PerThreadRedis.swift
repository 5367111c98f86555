import BatonCore

/// One ``RedisConnection`` per worker thread, opened lazily and reopened after a failure
/// (see ``PerThread`` for why per thread rather than a pool).
public final class PerThreadRedis: Sendable {
    public let endpoint: RedisEndpoint
    private let connections: PerThread<RedisConnection>

    public init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        connections = PerThread { RedisConnection(endpoint: endpoint) }
    }

    /// The calling thread's connection.
    public var connection: RedisConnection { connections.value }
}
