/// An RFC 9457 problem: every error answer is one (`application/problem+json`).
///
/// `code` is a stable machine-readable word for scripts; `field` names the request
/// field at fault, when there is one.
public struct Problem: Error, Sendable {
    public let status: Int
    public let code: String
    public let title: String
    public let detail: String
    public var field: String?
    public var headers: [(String, String)]
    /// Members beyond the standard ones (RFC 9457 allows extensions).
    public var extra: [(String, JSONValue)] = []

    public init(status: Int, code: String, title: String, detail: String, field: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    /// 400 for a field that is missing, of the wrong type or out of range.
    public static func invalidField(_ field: String, _ detail: String) -> Problem {
        Problem(status: 400, code: "invalid_field", title: "Invalid request field", detail: "\(field): \(detail)", field: field)
    }

    public static func badRequest(_ code: String, _ detail: String) -> Problem {
        Problem(status: 400, code: code, title: "Bad request", detail: detail)
    }

    public static func notFound(_ path: String) -> Problem {
        Problem(status: 404, code: "not_found", title: "Not found", detail: "no route for \(path.prefix(200))")
    }

    public static func methodNotAllowed(_ method: String, allowed: [String]) -> Problem {
        Problem(status: 405, code: "method_not_allowed", title: "Method not allowed",
                detail: "\(method.prefix(20)) is not allowed here; use \(allowed.joined(separator: ", "))",
                headers: [("Allow", allowed.joined(separator: ", "))])
    }

    /// 501 for a request method the server does not know (RFC 9110 section 9.1); the
    /// method itself is not repeated: it is whatever the client sent.
    public static func notImplemented() -> Problem {
        Problem(status: 501, code: "method_not_implemented", title: "Method not implemented",
                detail: "the request method is not one batond knows")
    }

    public static func tooLarge(limit: Int) -> Problem {
        Problem(status: 413, code: "body_too_large", title: "Request body too large",
                detail: "bodies are limited to \(limit) bytes")
    }

    public static func unauthorized(_ detail: String) -> Problem {
        Problem(status: 401, code: "unauthorized", title: "Unauthorized", detail: detail,
                headers: [("WWW-Authenticate", "Bearer realm=\"baton\"")])
    }

    public static func unavailable(_ backend: String, retryAfterMs: Int, detail: String) -> Problem {
        Problem(status: 503, code: "backend_unavailable", title: "\(backend) unavailable", detail: detail,
                headers: [("Retry-After", String(max(1, (retryAfterMs + 999) / 1000)))])
    }

    public static func internalError(_ detail: String) -> Problem {
        Problem(status: 500, code: "internal_error", title: "Internal error", detail: detail)
    }

    /// The problem as a response.
    public var response: HTTPResponse {
        var body: [(String, JSONValue)] = [
            ("type", .string("https://baton.dev/problems/\(code.replacingOccurrences(of: "_", with: "-"))")),
            ("title", .string(title)),
            ("status", .int(Int64(status))),
            ("detail", .string(detail)),
            ("code", .string(code)),
        ]
        if let field { body.append(("field", .string(field))) }
        body.append(contentsOf: extra)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/problem+json")] + headers,
                            body: JSONValue.object(body).encoded())
    }
}

extension String {
    func replacingOccurrences(of a: Character, with b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
