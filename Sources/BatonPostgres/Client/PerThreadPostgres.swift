import Glibc

/// One ``PostgresConnection`` per thread, opened lazily and reopened after a failure
/// (see ``PerThreadRedis`` for why per thread rather than a pool).
public final class PerThreadPostgres: Sendable {
    public let settings: PostgresSettings
    // Created once in init, only read afterwards; each thread sees only its own slot.
    private let key: pthread_key_t

    public init(settings: PostgresSettings) {
        self.settings = settings
        var k = pthread_key_t()
        let rc = pthread_key_create(&k, releaseThreadConnection)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        key = k
    }

    /// The calling thread's connection.
    public var connection: PostgresConnection {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<PostgresConnection>.fromOpaque(raw).takeUnretainedValue()
        }
        let c = PostgresConnection(settings: settings)
        pthread_setspecific(key, Unmanaged.passRetained(c).toOpaque())
        return c
    }
}

private func releaseThreadConnection(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    Unmanaged<PostgresConnection>.fromOpaque(raw).release()
}
