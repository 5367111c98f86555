internal import Glibc

/// One value per thread, made on first use and released when the thread exits.
///
/// The HTTP server runs a fixed pool of worker threads, each serving its requests one at
/// a time; giving each thread its own backend connection means no pool lock and no
/// head-of-line blocking on the hot path. Each thread only ever sees its own value.
public final class PerThread<Value: AnyObject>: Sendable {
    // Created once in init and only read afterwards; pthread_getspecific and
    // pthread_setspecific are thread-safe and each thread reads only its own slot.
    private let key: pthread_key_t
    private let make: @Sendable () -> Value

    public init(_ make: @escaping @Sendable () -> Value) {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k, releaseThreadValue)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        key = k
        self.make = make
    }

    /// The calling thread's value.
    public var value: Value {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as! Value
        }
        let v = make()
        pthread_setspecific(key, Unmanaged<AnyObject>.passRetained(v).toOpaque())
        return v
    }
}

/// pthread destructor: drops the thread's retained value (closing its connection).
private func releaseThreadValue(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    Unmanaged<AnyObject>.fromOpaque(raw).release()
}
