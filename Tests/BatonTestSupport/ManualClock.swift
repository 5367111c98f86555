import BatonCore
import BatonSupport
import Synchronization

/// A clock tests move by hand.
public final class ManualClock: Clock {
    private let now = Mutex<Int64>(1_800_000_000_000)
    public init() {}
    public func monotonicMs() -> Int64 { now.withLock { $0 } }
    public func wallMs() -> Int64 { now.withLock { $0 } }
    public func advance(ms: Int64) { now.withLock { $0 += ms } }
}
