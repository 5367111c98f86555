/// A backend (Redis or PostgreSQL) could not answer: connection refused or lost, timeout,
/// or a server-side refusal that means "not available" (LOADING, READONLY, OOM).
///
/// Logical answers ("someone else holds it") are never errors: only these count
/// towards opening a circuit breaker.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case connect, timeout, io, protocolError = "protocol", server
    }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// Which backend a breaker or an error belongs to.
public enum Backend: String, Sendable, CaseIterable {
    case redis, postgres
}
