import BatonCore
public import BatonHTTP

/// Finds the Jellyfin token in a request exactly as Jellyfin would read it from the same
/// request (AuthorizationContext.GetAuthorizationDictionary and
/// GetAuthorizationInfoFromDictionary, v10.10.7 / v10.11.11 / v12.0-rc5), so Baton judges the
/// very token Jellyfin will act on. Order:
/// 1. Baton only: the POST body's `token`.
/// 2. The authorization header: the first `Authorization` value; with legacy rules, when
///    `Authorization` is absent or empty, the first `X-Emby-Authorization` (10.10 rules: the
///    other way round). Its `Token` (``MediaBrowserAuthorization``).
/// 3. Legacy: header `X-Emby-Token`, then `X-MediaBrowser-Token` (repeated: joined with `,`).
/// 4. Query `ApiKey`, then (legacy) `api_key`, keys in any case (``AspNetQuery``). The query is
///    the request's own; when it has none, that of the original request as the ingress
///    forwards it: `X-Forwarded-Uri` (Traefik, Caddy), `X-Original-URL` (ingress-nginx),
///    `X-Original-URI` (nginx `auth_request` set-ups), the first present.
/// An empty value at any step means "look further", as in Jellyfin.
public struct TokenExtractor: Sendable {
    public let rules: AuthorizationRules

    public init(rules: AuthorizationRules) {
        self.rules = rules
    }

    /// `legacy: true` is ``AuthorizationRules/legacy``, false ``AuthorizationRules/modern``.
    public init(legacy: Bool) {
        self.rules = legacy ? .legacy : .modern
    }

    /// Headers that carry the original request's URI when an ingress asks Baton, in the order read.
    public static let forwardedURIHeaders = ["x-forwarded-uri", "x-original-url", "x-original-uri"]

    public func token(in request: HTTPRequest, bodyToken: String?) -> String? {
        if let t = bodyToken, !t.isEmpty { return t }
        let legacy = rules.acceptsLegacyForms
        if let header = authorizationHeader(request),
           let t = MediaBrowserAuthorization.token(in: header, acceptEmby: legacy), !t.isEmpty {
            return t
        }
        if legacy {
            if let t = request.joinedHeader("x-emby-token"), !t.isEmpty { return t }
            if let t = request.joinedHeader("x-mediabrowser-token"), !t.isEmpty { return t }
        }
        let query = AspNetQuery.apiKeys(in: Self.jellyfinQuery(of: request))
        if let t = query.apiKey, !t.isEmpty { return t }
        if legacy, let t = query.legacyApiKey, !t.isEmpty { return t }
        return nil
    }

    /// The header value Jellyfin parses for `Token` (`auth[0]`), or nil when it reads none.
    /// ASP.NET's `string.IsNullOrEmpty(StringValues)` tests all values joined.
    func authorizationHeader(_ request: HTTPRequest) -> String? {
        switch rules {
        case .modern:
            return request.header("authorization")
        case .legacy:
            if request.hasNonEmptyJoinedHeader("authorization") { return request.header("authorization") }
            return request.header("x-emby-authorization")
        case .jellyfin10_10:
            if request.hasNonEmptyJoinedHeader("x-emby-authorization") { return request.header("x-emby-authorization") }
            return request.header("authorization")
        }
    }

    /// The query string Jellyfin sees: the request's own, else the forwarded URI's.
    static func jellyfinQuery(of request: HTTPRequest) -> Substring {
        if !request.queryString.isEmpty { return request.queryString[...] }
        for name in forwardedURIHeaders {
            guard let uri = request.header(name) else { continue }
            guard let q = uri.firstIndex(of: "?") else { return "" }
            return uri[uri.index(after: q)...]
        }
        return ""
    }
}
