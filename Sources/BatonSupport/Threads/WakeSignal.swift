internal import Glibc

/// A counting semaphore with a timed wait on the monotonic clock, for a background thread
/// that sleeps until there is work or a deadline passes (the history outbox's writer).
/// Foundation's `DispatchSemaphore` did this before; this is a pthread mutex and a
/// condition variable set to `CLOCK_MONOTONIC`, so a wall-clock jump neither wakes nor
/// stalls the writer.
public final class WakeSignal: @unchecked Sendable {
    // @unchecked: the mutable state (`count`) is only touched with `mutex` held, and the
    // pthread objects are made once in init, used through their own locking, and
    // destroyed in deinit when no thread can be waiting any more (waiters hold a reference).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var count = 0

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Adds one wake-up and wakes a waiter.
    public func signal() {
        pthread_mutex_lock(mutex)
        count += 1
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Takes one wake-up, waiting at most `ms` milliseconds (0: do not wait).
    /// Returns whether one was taken (false: timed out).
    @discardableResult
    public func wait(timeoutMs ms: Int) -> Bool {
        let deadline = MonotonicClock.nanoseconds() + UInt64(max(0, ms)) * 1_000_000
        var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while count == 0 {
            if pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT { break }
        }
        guard count > 0 else { return false }
        count -= 1
        return true
    }
}
