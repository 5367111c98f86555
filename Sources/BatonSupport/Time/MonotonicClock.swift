internal import Glibc

/// `CLOCK_MONOTONIC`, the one monotonic clock of Baton (HTTP header deadlines, PostgreSQL
/// query budgets, breaker cooldowns, batonctl's guard): it never jumps with the wall clock.
public enum MonotonicClock {
    /// Nanoseconds from an arbitrary origin (the boot).
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Milliseconds from the same origin.
    public static func milliseconds() -> Int64 { Int64(nanoseconds() / 1_000_000) }
}

/// `CLOCK_REALTIME`: the wall clock, for timestamps shown to people.
public enum WallClock {
    /// Milliseconds since the Unix epoch, rounded to the nearest millisecond (as
    /// `Date().timeIntervalSince1970 * 1000` rounded did before).
    public static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + (Int64(ts.tv_nsec) + 500_000) / 1_000_000
    }
}
