internal import Glibc

/// A Boolean with one value per thread, false until the thread sets it.
///
/// For marking "this thread is inside such a call" without passing a parameter through
/// every layer (``PerThread`` is for values a thread keeps; this holds no object).
public final class ThreadFlag: Sendable {
    // Created once in init and only read afterwards; each thread reads and writes only its
    // own slot (pthread_getspecific/setspecific are thread-safe).
    private let key: pthread_key_t

    public init() {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k, nil)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        key = k
    }

    /// The calling thread's value.
    public var isOn: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}
