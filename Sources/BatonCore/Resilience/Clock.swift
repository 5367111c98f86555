import Foundation

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
    private static let origin = ContinuousClock.now
    public init() {}
    public func monotonicMs() -> Int64 {
        let d = ContinuousClock.now - Self.origin
        return d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }
    public func wallMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
}
