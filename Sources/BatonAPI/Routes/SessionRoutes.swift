import BatonCore
import BatonHTTP

/// `GET|POST /sessions/validate`: Jellyfin token validation for any replica, for an
/// ingress (Traefik forwardAuth) and for people during incidents. Open endpoint: the
/// Jellyfin token is the credential.
package struct SessionRoutes {
    let services: Services
    let extractor: TokenExtractor
    let metrics: Metrics

    /// The fields the POST body may have (also the fuzz harness').
    package static let validateFields: Set<String> = ["token"]

    func register(_ r: inout Router) {
        r.add("GET", "/sessions/validate") { req, _ in validate(req, bodyToken: nil) }
        r.add("POST", "/sessions/validate") { req, _ in
            handle { () throws(Problem) in
                let body = try BodyReader(req.body, allowed: Self.validateFields, emptyIsObject: true)
                let token = try body.string("token")
                if let token, SessionValidator.hasControlCharacter(token) {
                    throw Problem.invalidField("token", "must not contain control characters (NUL included)")
                }
                return validate(req, bodyToken: token)
            }
        }
    }

    private func validate(_ req: HTTPRequest, bodyToken: String?) -> HTTPResponse {
        switch services.sessions.validate(extractor.token(in: req, bodyToken: bodyToken)) {
        case .valid(let owner):
            metrics.observeSession("valid")
            var headers: [(String, String)] = []
            headers.reserveCapacity(4)
            headers.append(("X-Baton-Is-Admin", owner.isAdmin ? "true" : "false"))
            if let id = owner.userId { headers.append(("X-Baton-User-Id", headerSafe(id))) }
            if let name = owner.userName { headers.append(("X-Baton-User-Name", headerSafe(name))) }
            headers.append(("Cache-Control", "no-store"))
            return .json(200, encoded: owner.encodedJSON, headers: headers)
        case .invalid(let reason):
            metrics.observeSession(reason.rawValue)
            let detail: String
            switch reason {
            case .missingToken: detail = "no Jellyfin token in the body, Authorization header, legacy headers or query"
            case .unknownToken: detail = "the token matches no Jellyfin device or API key"
            case .userDisabled: detail = "the token's user is disabled"
            }
            var p = Problem(status: 401, code: reason.rawValue, title: "Invalid Jellyfin session", detail: detail,
                            headers: [("Cache-Control", "no-store")])
            p.extra = [("valid", .bool(false)), ("reason", .string(reason.rawValue))]
            return p.response
        case .unavailable(let retryAfterMs):
            metrics.observeSession("unavailable")
            return Problem.unavailable("PostgreSQL", retryAfterMs: retryAfterMs,
                                       detail: "cannot reach the Jellyfin database to check the token; this says nothing about the token").response
        }
    }

    /// Header values may not carry control characters (response splitting).
    private func headerSafe(_ s: String) -> String {
        // Control characters are single UTF-8 bytes, so a value without such bytes is kept as is.
        var s = s
        guard s.withUTF8({ $0.contains(where: { $0 < 0x20 || $0 == 0x7F }) }) else { return s }
        return String(s.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }
}
