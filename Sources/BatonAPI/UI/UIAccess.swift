import BatonCore
import BatonHTTP
import BatonSupport

/// Who may read the incident page (`BATON_UI`).
public enum UIMode: String, Sendable, CaseIterable {
    /// A bearer token entered once in a login form, kept as a session cookie (default).
    case login
    /// No login: for a page reachable only inside the cluster.
    case open
    /// No `/ui` routes at all.
    case off
}

/// The session cookie and the checks around the login form.
struct UIAccess: Sendable {
    static let cookieName = "baton_ui"
    /// How long a login lasts.
    static let sessionSeconds: Int64 = 12 * 3_600

    let mode: UIMode
    /// nil when authentication is disabled (`BATON_AUTH=disabled`): the page is open too.
    let tokens: TokenSet?
    var clock: any Clock = SystemClock()

    var isOpen: Bool { mode == .open || tokens == nil }

    private var nowSeconds: Int64 { clock.wallMs() / 1_000 }

    /// Whether the request carries a valid session cookie (or needs none).
    func allows(_ request: HTTPRequest) -> Bool {
        if isOpen { return true }
        guard let tokens, let ticket = Self.cookie(Self.cookieName, in: request) else { return false }
        return SessionTicket.verify(ticket, tokens: tokens, nowSeconds: nowSeconds, maxAgeSeconds: Self.sessionSeconds)
    }

    /// The token is one of the accepted ones (constant time, via TokenSet).
    func accepts(token: String) -> Bool { tokens?.contains(token) ?? false }

    func sessionCookie(for token: String, _ request: HTTPRequest) -> String {
        let ticket = SessionTicket.issue(token: token, expiresAtSeconds: nowSeconds + Self.sessionSeconds)
        return "\(Self.cookieName)=\(ticket); Path=/ui; Max-Age=\(Self.sessionSeconds); HttpOnly; SameSite=Strict" + Self.secure(request)
    }

    func clearedCookie(_ request: HTTPRequest) -> String {
        "\(Self.cookieName)=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict" + Self.secure(request)
    }

    /// `Secure` when the browser reached us over TLS: batond itself speaks plain HTTP, so
    /// that is the TLS-terminating proxy's `X-Forwarded-Proto: https`. (A client faking
    /// the header only makes its own cookie unusable over plain HTTP.)
    static func secure(_ request: HTTPRequest) -> String {
        let proto = request.header("x-forwarded-proto")?.split(separator: ",").first.map { $0.trimmingCharacters(in: " ").lowercased() }
        return proto == "https" ? "; Secure" : ""
    }

    static func cookie(_ name: String, in request: HTTPRequest) -> String? {
        guard let header = request.header("cookie") else { return nil }
        for part in header.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2, kv[0].trimmingCharacters(in: " ") == name { return kv[1].trimmingCharacters(in: " ") }
        }
        return nil
    }

    /// CSRF guard for the form posts, beside SameSite=Strict: a browser's `Origin` must name
    /// this host (the one the browser asked for: `X-Forwarded-Host` behind a proxy, else
    /// `Host`); `Origin: null` is refused. Without `Origin`, `Sec-Fetch-Site` must not say
    /// cross-site; a client sending neither is not a browser, so not a CSRF vector.
    static func sameOrigin(_ request: HTTPRequest) -> Bool {
        let host = (request.header("x-forwarded-host")?.split(separator: ",").first.map { $0.trimmingCharacters(in: " ") }
                    ?? request.header("host"))?.lowercased()
        if let origin = request.header("origin") {
            guard let host, let sep = origin.firstRange(of: "://") else { return false }
            let scheme = origin[..<sep.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { return false }
            var rest = origin[sep.upperBound...]
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            let originHost = rest.lowercased()
            // Host may omit the default port the Origin spells out, and vice versa.
            func bare(_ h: String, _ s: String) -> String {
                let suffix = s == "https" ? ":443" : ":80"
                return h.hasSuffix(suffix) ? String(h.dropLast(suffix.count)) : h
            }
            return bare(originHost, scheme) == bare(host, scheme)
        }
        if let site = request.header("sec-fetch-site")?.lowercased() { return site == "same-origin" || site == "none" }
        return true
    }

    /// The value of `name` in an `application/x-www-form-urlencoded` body.
    static func formValue(_ name: String, in body: [UInt8]) -> String? {
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let kv = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecode(kv[0]), key == name else { continue }
            return kv.count == 2 ? percentDecode(kv[1]) : ""
        }
        return nil
    }

    private static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            case 97...102: c - 87
            default: nil
            }
        }
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(validating: out, as: UTF8.self)
    }
}
