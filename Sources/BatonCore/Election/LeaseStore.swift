/// The arbiter of leases. Each method is one atomic step in the store; the service keeps
/// no lease state in memory, so any number of Baton replicas can share one store.
public protocol LeaseStore: Sendable {
    /// Starts a tenure if the lease is vacant, renews it if `holder` already holds it,
    /// or reports the current tenure. A new tenure's fencing token is above
    /// `guardrails.floor` and every token handed out before.
    ///
    /// `guardrails` is asked once the store knows which server answers. When the lease's
    /// data is gone or was written by an earlier server (a restart, a failover to a replica
    /// that may have missed writes), its tenure is void and no tenure starts for
    /// `recoveryWindowMs`; for `carriedWindowMs` none starts in any case.
    func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult
    /// Extends the caller's tenure; never starts a new one. With `fencingToken`, only that
    /// tenure. A tenure written by an earlier server is void (see ``acquire(_:holder:ttlMs:guardrails:)``).
    func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
               guardrails: () -> Guardrails) throws(BackendError) -> RenewResult
    /// Ends the caller's tenure at once.
    func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult
    /// The current tenure, or nil when vacant.
    func tenure(of lease: LeaseName) throws(BackendError) -> Tenure?
    /// Every lease that has ever had a tenure (still known to the store).
    func knownLeases() throws(BackendError) -> [LeaseName]
    /// Which part of the store `lease` lives on, when parts fail on their own (a Redis
    /// Cluster shard): its breaker is then that part's (see ``BreakerDomains``). nil: one.
    func failureDomain(of lease: LeaseName) -> String?
    /// Whether ``acquire(_:holder:ttlMs:guardrails:completion:)`` answers without holding
    /// the calling thread while the store works.
    var answersLater: Bool { get }
    /// ``acquire(_:holder:ttlMs:guardrails:)`` with its result given to `completion`, on
    /// whatever thread has it (exactly once). `guardrails` is asked, as there, once the
    /// store knows which server answers.
    func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: @escaping @Sendable () -> Guardrails,
                 completion: @escaping @Sendable (Result<AcquireResult, BackendError>) -> Void)
}

extension LeaseStore {
    public func failureDomain(of lease: LeaseName) -> String? { nil }

    public var answersLater: Bool { false }

    /// At once, on the calling thread.
    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: @escaping @Sendable () -> Guardrails,
                        completion: @escaping @Sendable (Result<AcquireResult, BackendError>) -> Void) {
        do throws(BackendError) {
            completion(.success(try acquire(lease, holder: holder, ttlMs: ttlMs, guardrails: guardrails)))
        } catch {
            completion(.failure(error))
        }
    }
}

public enum AcquireResult: Sendable, Equatable {
    /// A new tenure began; `previousHolder` held the one before it (nil for the first).
    case acquired(Tenure, previousHolder: Holder?)
    /// The caller already held it; its TTL was reset.
    case renewed(Tenure)
    /// Someone else holds it.
    case heldByOther(Tenure)
    /// The store lost this lease's data; no new tenure for `retryAfterMs`.
    case recovering(retryAfterMs: Int)
}

public enum RenewResult: Sendable, Equatable {
    case renewed(Tenure)
    /// The caller does not hold this tenure; the current one (if any) is attached.
    case notHeld(Tenure?)
}

public enum ReleaseResult: Sendable, Equatable {
    case released(Tenure)
    /// Nobody held it.
    case vacant
    /// Someone else (or another tenure of the caller) holds it.
    case heldByOther(Tenure)
}
