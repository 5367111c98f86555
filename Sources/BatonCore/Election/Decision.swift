/// What a coordination call decided, before it becomes an HTTP answer.
public enum Decision<Value: Sendable>: Sendable {
    /// 200: the caller got what it asked for (or, for reads, here is the state).
    case ok(Value)
    /// 409: a normal "no", carrying the state so a script can see who holds what.
    case conflict(Value)
    /// 409 with Retry-After: Redis lost this lease's or task's data and Baton refuses new
    /// tenures until every tenure it may have granted before has run out.
    case recovering(Value, retryAfterMs: Int)
    /// 503: the backend failed and policy does not allow a fallback answer.
    case unavailable(BackendError?, retryAfterMs: Int)
}

/// Counters the domain reports to whoever exports metrics.
public protocol CoordinationEvents: Sendable {
    func leaseAcquired(_ lease: LeaseName, transition: Bool)
    func degradedGrant(_ kind: String)
    /// A new tenure or claim was refused because Redis lost the resource's data.
    func recoveryRefusal(_ resource: Resource)
    /// A call was answered 503 because Redis is set up wrong (never a degraded grant).
    func misconfiguredAnswer(_ what: Misconfiguration, detail: String)
}

extension CoordinationEvents {
    public func misconfiguredAnswer(_ what: Misconfiguration, detail: String) {}
}

/// Discards events.
public struct NoEvents: CoordinationEvents {
    public init() {}
    public func leaseAcquired(_ lease: LeaseName, transition: Bool) {}
    public func degradedGrant(_ kind: String) {}
    public func recoveryRefusal(_ resource: Resource) {}
}
