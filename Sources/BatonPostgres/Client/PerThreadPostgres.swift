import BatonCore
import BatonSupport

/// One ``PostgresConnection`` per worker thread, opened lazily and reopened after a
/// failure (see ``PerThread`` for why per thread rather than a pool).
public final class PerThreadPostgres: Sendable {
    public let settings: PostgresSettings
    private let connections: PerThread<PostgresConnection>

    public init(settings: PostgresSettings) {
        self.settings = settings
        connections = PerThread { PostgresConnection(settings: settings) }
    }

    /// The calling thread's connection.
    public var connection: PostgresConnection { connections.value }
}
