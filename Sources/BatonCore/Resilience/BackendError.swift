/// A backend (Redis or PostgreSQL) could not answer: connection refused or lost, timeout,
/// or a server-side refusal that means "not available" (LOADING, READONLY, OOM).
///
/// Logical answers ("someone else holds it") are never errors: only these count
/// towards opening a circuit breaker. A ``Misconfiguration`` (the server answered, but
/// refuses batond as configured) is an error that never counts: see ``CircuitBreaker``.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case connect, timeout, io, protocolError = "protocol", server, misconfigured
    }
    public let kind: Kind
    public let message: String
    /// What is misconfigured, when `kind` is `.misconfigured`.
    public let misconfiguration: Misconfiguration?
    /// The command was sent and no answer came back (a timeout or a broken connection
    /// after sending): it may have run. A grant it may have made must be recorded or voided.
    public var outcomeUnknown = false
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
        misconfiguration = nil
    }
    /// The server answered, and the answer says batond or the server is set up wrong.
    public init(misconfigured what: Misconfiguration, _ message: String) {
        kind = .misconfigured
        self.message = message
        misconfiguration = what
    }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Which backend a breaker or an error belongs to.
public enum Backend: String, Sendable, CaseIterable {
    case redis, postgres
}
