import BatonCore
import BatonHTTP

/// `Authorization: Bearer <token>` on every coordination and ops endpoint.
public struct BearerAuth: Sendable {
    /// nil means authentication is disabled (`BATON_AUTH=disabled`).
    private let tokens: TokenSet?

    public init(tokens: TokenSet?) {
        self.tokens = tokens
    }

    public var isDisabled: Bool { tokens == nil }

    /// nil when the request may proceed, else the 401 to send.
    func check(_ request: HTTPRequest) -> Problem? {
        guard let tokens else { return nil }
        guard let header = request.header("authorization") else {
            return .unauthorized("missing Authorization: Bearer <token> header")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .unauthorized("Authorization header must use the Bearer scheme")
        }
        let candidate = parts[1].trimmingCharacters(in: " \t")
        guard tokens.contains(candidate) else { return .unauthorized("bearer token is not valid") }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
