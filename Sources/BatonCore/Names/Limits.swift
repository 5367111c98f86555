/// Ranges the API accepts, in milliseconds.
public enum Limits {
    /// Lease TTL: 1 s to 24 h.
    public static let leaseTTL: ClosedRange<Int> = 1_000...86_400_000
    /// Task claim upper bound: 1 s to 7 days.
    public static let lockAtMost: ClosedRange<Int> = 1_000...604_800_000
    /// Task claim lower bound: 0 to 7 days (and never above lock_at_most).
    public static let lockAtLeast: ClosedRange<Int> = 0...604_800_000
    /// Completion detail: up to 4 KiB of UTF-8.
    public static let detailBytes = 4_096
    /// History pages.
    public static let historyLimit: ClosedRange<Int> = 1...1_000
}
