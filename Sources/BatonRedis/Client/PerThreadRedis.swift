import BatonCore
import Glibc

/// One ``RedisConnection`` per thread, opened lazily and reopened after a failure.
///
/// The HTTP server runs a fixed pool of worker threads, each serving requests one at a
/// time; giving each its own connection means no pool lock and no head-of-line blocking
/// on the hot path. The connection is closed when its thread exits.
public final class PerThreadRedis: Sendable {
    public let endpoint: RedisEndpoint
    // The key is created once in init and only read afterwards; pthread_getspecific and
    // pthread_setspecific are thread-safe and each thread only sees its own slot.
    private let key: pthread_key_t

    public init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        var k = pthread_key_t()
        let rc = pthread_key_create(&k, releaseThreadConnection)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        key = k
    }

    /// The calling thread's connection.
    public var connection: RedisConnection {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<RedisConnection>.fromOpaque(raw).takeUnretainedValue()
        }
        let c = RedisConnection(endpoint: endpoint)
        pthread_setspecific(key, Unmanaged.passRetained(c).toOpaque())
        return c
    }
}

/// pthread destructor: drops the thread's retained connection (which closes it).
private func releaseThreadConnection(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    Unmanaged<RedisConnection>.fromOpaque(raw).release()
}
