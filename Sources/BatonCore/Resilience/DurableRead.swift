/// What a call to PostgreSQL behind its circuit breaker gave: the value, or "unavailable,
/// retry after" — for the routes, which answer it and never drive the breaker themselves.
public enum DurableRead<Value> {
    case ok(Value)
    /// PostgreSQL failed this call (`error`), or the breaker is open and it was not tried
    /// (`error` nil). Coordination is unaffected; only what PostgreSQL keeps is missing.
    case unavailable(BackendError?, retryAfterMs: Int)
}

extension CircuitBreaker {
    /// `body` behind this breaker, as a ``DurableRead``; Retry-After is the cooldown, at
    /// least a second.
    public func durableRead<V>(_ body: () throws(BackendError) -> V) -> DurableRead<V> {
        let retryAfterMs = Int(max(1_000, cooldownMs))
        switch run(body) {
        case .success(let v): return .ok(v)
        case .failure(let error, _): return .unavailable(error, retryAfterMs: retryAfterMs)
        case .rejected: return .unavailable(nil, retryAfterMs: retryAfterMs)
        }
    }
}
