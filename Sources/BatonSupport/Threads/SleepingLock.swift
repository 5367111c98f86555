internal import Glibc

/// A lock over a value that puts a thread that finds it taken to sleep at once: a glibc
/// `pthread_mutex_t` of the default kind, a plain futex when contended.
///
/// For the few locks that every request takes on several threads (the Redis pipeline's).
/// `Mutex` from Synchronization on Linux spins before it sleeps, then sleeps on a
/// priority-inheritance futex. With more threads than cores the holder is often not
/// running, so the spinning is lost time: 4.7 % of batond's samples were that spin in the
/// pipeline's lock under 32 connections on 2 cores, and 1.2 % more the PI futex's
/// scheduling (perf, bench/README.md).
public final class SleepingLock<Value>: @unchecked Sendable {
    // @unchecked: `value` is only read or written inside `withLock`, with `mutex` held; the
    // mutex is made in init and destroyed in deinit, when no thread can hold a reference.
    // A value handed in and out is `sending`, as with `Mutex`, so no non-Sendable state is
    // shared through it.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: sending Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value with the lock held.
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
