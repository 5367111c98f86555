/// One tenure of a lease as the store holds it.
public struct Tenure: Sendable, Equatable {
    public let holder: Holder
    public let fencingToken: FencingToken
    /// When this tenure began, milliseconds since the Unix epoch (the store's clock).
    public let acquiredAtMs: Int64
    /// The TTL the holder asked for last.
    public let ttlMs: Int
    /// Time left before the store forgets the tenure.
    public let expiresInMs: Int

    public init(holder: Holder, fencingToken: FencingToken, acquiredAtMs: Int64, ttlMs: Int, expiresInMs: Int) {
        self.holder = holder
        self.fencingToken = fencingToken
        self.acquiredAtMs = acquiredAtMs
        self.ttlMs = ttlMs
        self.expiresInMs = expiresInMs
    }
}

/// Whether an answer came from the arbiter or from the breaker's fallback.
public enum Mode: String, Sendable {
    /// Redis decided.
    case normal
    /// Redis is unreachable and the breaker is open: the caller was told to go ahead
    /// without a fencing token, and other callers may have been told the same.
    case degraded
}

/// Why a lease could not be taken, beyond "someone holds it".
public enum LeaseRefusal: String, Sendable {
    /// Redis lost the lease's data; new tenures resume once any earlier one has run out.
    case recovering
}

/// A lease as the API shows it to one caller.
public struct LeaseView: Sendable, Equatable {
    public let lease: LeaseName
    public let holder: Holder?
    /// Whether the caller holds the lease.
    public let leader: Bool
    /// Whether this call began a new tenure.
    public let acquired: Bool
    public let fencingToken: FencingToken?
    public let ttlMs: Int?
    public let expiresInMs: Int?
    public let acquiredAtMs: Int64?
    public let mode: Mode
    /// Set only on refusals that are not explained by the holder (recovery).
    public let reason: LeaseRefusal?

    public init(lease: LeaseName, tenure: Tenure?, caller: Holder?, acquired: Bool = false, reason: LeaseRefusal? = nil) {
        self.lease = lease
        self.holder = tenure?.holder
        self.leader = tenure != nil && tenure?.holder == caller
        self.acquired = acquired
        self.fencingToken = tenure?.fencingToken
        self.ttlMs = tenure?.ttlMs
        self.expiresInMs = tenure?.expiresInMs
        self.acquiredAtMs = tenure?.acquiredAtMs
        self.mode = .normal
        self.reason = reason
    }

    /// The fallback answer while Redis is unreachable: the caller leads, without a token.
    public static func degraded(lease: LeaseName, caller: Holder, ttlMs: Int, nowMs: Int64) -> LeaseView {
        LeaseView(lease: lease, holder: caller, leader: true, acquired: true, fencingToken: nil,
                  ttlMs: ttlMs, expiresInMs: ttlMs, acquiredAtMs: nowMs, mode: .degraded)
    }

    init(lease: LeaseName, holder: Holder?, leader: Bool, acquired: Bool, fencingToken: FencingToken?,
         ttlMs: Int?, expiresInMs: Int?, acquiredAtMs: Int64?, mode: Mode, reason: LeaseRefusal? = nil) {
        self.lease = lease
        self.holder = holder
        self.leader = leader
        self.acquired = acquired
        self.fencingToken = fencingToken
        self.ttlMs = ttlMs
        self.expiresInMs = expiresInMs
        self.acquiredAtMs = acquiredAtMs
        self.mode = mode
        self.reason = reason
    }
}
