/// What leases and claims do when Redis fails, in one place.
///
/// While the breaker is closed a failure is a 503 (the caller retries). Once it is open,
/// the policy decides: `grant` answers with the degraded fallback, `deny` keeps answering
/// 503. Reads never fall back: without Redis the truth is unknown.
struct RedisFallback: Sendable {
    let breaker: CircuitBreaker
    let defaultPolicy: FailurePolicy
    let events: any CoordinationEvents
    /// "lease" or "task", for the degraded-grant counter.
    let kind: String

    /// How long a caller should wait before retrying a 503: until the next probe.
    var retryAfterMs: Int { Int(max(1_000, breaker.cooldownMs)) }

    /// A misconfiguration needs a human: retrying every second does not help.
    var misconfiguredRetryAfterMs: Int { 30_000 }

    /// The answer after a failed (or, with `opened: true` and no error, refused) write.
    func decide<V>(_ error: BackendError?, opened: Bool, policy: FailurePolicy?, _ grant: () -> V) -> Decision<V> {
        if let what = error?.misconfiguration {
            events.misconfiguredAnswer(what, detail: error?.message ?? "")
            return .unavailable(error, retryAfterMs: misconfiguredRetryAfterMs)
        }
        guard opened, (policy ?? defaultPolicy) == .grant else {
            return .unavailable(error, retryAfterMs: retryAfterMs)
        }
        events.degradedGrant(kind)
        return .ok(grant())
    }

    /// A read through the breaker: the value, or 503.
    func read<V>(_ body: () throws(BackendError) -> V) -> Decision<V> {
        switch breaker.run(body) {
        case .success(let v): return .ok(v)
        case .failure(let error, _):
            if let what = error.misconfiguration {
                events.misconfiguredAnswer(what, detail: error.message)
                return .unavailable(error, retryAfterMs: misconfiguredRetryAfterMs)
            }
            return .unavailable(error, retryAfterMs: retryAfterMs)
        case .rejected: return .unavailable(nil, retryAfterMs: retryAfterMs)
        }
    }
}
