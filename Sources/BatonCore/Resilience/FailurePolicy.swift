/// What to answer while the Redis breaker is open.
///
/// `grant` is the write-up's choice: every caller is told to go ahead (`mode: degraded`),
/// because a scheduled task that runs twice is better than one that never runs.
/// `deny` answers 503 so callers skip the work instead.
public enum FailurePolicy: String, Sendable, CaseIterable {
    case grant, deny
}
