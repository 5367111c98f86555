import BatonCore
import BatonHTTP
import BatonSupport

/// `GET /ui` (the incident page), `GET|POST /ui/login`, `POST /ui/logout`. These routes
/// do their own access check (a session cookie, not a bearer header): a browser cannot
/// send `Authorization` from a plain link, and a token must never travel in a URL.
struct UIRoutes {
    static let paths: Set<String> = ["/ui", "/ui/login", "/ui/logout"]

    let services: Services
    let access: UIAccess
    /// Someone trying tokens must not flood the log: a few lines a minute say so.
    private let refusedLines = LogLimiter(limit: 10, windowMs: 60_000)

    init(services: Services, access: UIAccess) {
        self.services = services
        self.access = access
    }

    func register(_ r: inout Router) {
        guard access.mode != .off else { return }
        r.add("GET", "/ui") { req, _ in page(req) }
        r.add("GET", "/ui/login") { req, _ in
            access.allows(req) ? PageSecurity.redirect("/ui") : PageSecurity.page(200, loginForm(message: nil))
        }
        r.add("POST", "/ui/login") { req, _ in login(req) }
        r.add("POST", "/ui/logout") { req, _ in
            guard UIAccess.sameOrigin(req) else { return crossOrigin() }
            return PageSecurity.redirect(access.isOpen ? "/ui" : "/ui/login", extra: [("Set-Cookie", access.clearedCookie(req))])
        }
    }

    private func page(_ req: HTTPRequest) -> HTTPResponse {
        guard access.allows(req) else { return PageSecurity.redirect("/ui/login") }
        var range = IncidentSnapshot.Range.day
        if let raw = req.queryValue("range") {
            guard let r = IncidentSnapshot.Range(rawValue: raw) else {
                return Problem.invalidField("range", "must be one of 1h, 24h, 7d").response
            }
            range = r
        }
        let snapshot = IncidentSnapshot.read(services, range: range)
        let html = IncidentPage(snapshot: snapshot, version: services.facts.version, onRedisFailure: services.facts.onRedisFailure,
                                warnings: services.facts.snapshot.warnings, loggedIn: !access.isOpen).render()
        return PageSecurity.page(200, html)
    }

    private func login(_ req: HTTPRequest) -> HTTPResponse {
        guard UIAccess.sameOrigin(req) else { return crossOrigin() }
        if access.isOpen { return PageSecurity.redirect("/ui") }
        guard let token = UIAccess.formValue("token", in: req.body), !token.isEmpty else {
            return PageSecurity.page(400, loginForm(message: "Field token is required: paste one of batond's API tokens."))
        }
        guard access.accepts(token: token) else {
            if let suppressed = refusedLines.admit() {
                Log.current.warn("incident page login refused: token is not valid",
                                 ["request_id": .string(req.requestId), "lines_suppressed_before": .int(Int64(suppressed))])
            }
            return PageSecurity.page(401, loginForm(message: "That token was refused."))
        }
        return PageSecurity.redirect("/ui", extra: [("Set-Cookie", access.sessionCookie(for: token, req))])
    }

    private func crossOrigin() -> HTTPResponse {
        PageSecurity.page(403, PageSecurity.document(title: "Refused", body: "<main><section><h2>Refused</h2><p>This form may only be posted from the page batond served (Origin does not match Host).</p></section></main>"))
    }

    private func loginForm(message: String?) -> String {
        var b = "<form class=\"login\" method=\"post\" action=\"/ui/login\"><h2>Baton incident view</h2>"
        if let m = message { b += "<p class=\"bad\" id=\"login-error\">\(HTML.escape(m))</p>" }
        b += "<label for=\"token\">API token (one of BATON_API_TOKENS)</label>"
        b += "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>"
        b += "<button type=\"submit\">Log in</button>"
        b += "<p class=\"dim\">The token is checked once; the browser keeps a session cookie (12 h) derived from it, not the token.</p></form>"
        return PageSecurity.document(title: "Baton — log in", body: b)
    }
}
