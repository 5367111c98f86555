import BatonSupport
import Testing

/// ``SleepingLock`` is the Redis pipeline's lock: what one thread does under it, no other
/// thread sees half done.
@Suite struct SleepingLockTests {
    /// Four threads add to one counter, each read and write apart under the lock: without
    /// mutual exclusion, additions made between another thread's read and write are lost.
    @Test func additionsUnderTheLockAreNeverLost() {
        struct Counter { var value = 0 }
        let lock = SleepingLock(Counter())
        let threads = 4, rounds = 50_000
        let done = WakeSignal()
        for t in 0..<threads {
            BackgroundThread.start(name: "adder-\(t)") {
                for _ in 0..<rounds {
                    lock.withLock { c in
                        let read = c.value
                        c.value = read &+ 1
                    }
                }
                done.signal()
            }
        }
        for _ in 0..<threads { #expect(done.wait(timeoutMs: 60_000)) }
        #expect(lock.withLock { $0.value } == threads * rounds)
    }

    @Test func aThrownErrorLeavesTheLockFree() {
        struct Refused: Error {}
        let lock = SleepingLock(0)
        #expect(throws: Refused.self) { try lock.withLock { (_: inout Int) throws(Refused) in throw Refused() } }
        #expect(lock.withLock { v -> Int in v += 1; return v } == 1)
    }
}
