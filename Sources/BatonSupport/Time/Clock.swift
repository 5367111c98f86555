/// Time as the domain needs it: a monotonic clock for cooldowns and caches, and the
/// wall clock for timestamps shown to people. Injected so tests can move time.
public protocol Clock: Sendable {
    /// Monotonic milliseconds from an arbitrary origin; never goes backwards.
    func monotonicMs() -> Int64
    /// Milliseconds since the Unix epoch.
    func wallMs() -> Int64
}

/// The real clocks.
public struct SystemClock: Clock {
    public init() {}
    public func monotonicMs() -> Int64 { MonotonicClock.milliseconds() }
    public func wallMs() -> Int64 { WallClock.milliseconds() }
}
