import BatonCore
import BatonHTTP

/// Finds the Jellyfin token in a request, in the order Jellyfin itself looks
/// (AuthorizationContext), so Baton and Jellyfin never disagree about which token a
/// request carries:
/// 1. the POST body's `token`;
/// 2. `Authorization: MediaBrowser …, Token="…"` (`Emby` too in legacy mode);
/// 3. legacy mode: `X-Emby-Authorization` (same syntax), `X-Emby-Token`, `X-MediaBrowser-Token`;
/// 4. query `ApiKey` (and legacy `api_key`) of the request itself, then of `X-Forwarded-Uri`
///    (Traefik's forwardAuth sends a GET with the original URI there).
public struct TokenExtractor: Sendable {
    /// `BATON_LEGACY_AUTH`: accept the pre-12.0 header and query forms.
    public let legacy: Bool

    public init(legacy: Bool) {
        self.legacy = legacy
    }

    public func token(in request: HTTPRequest, bodyToken: String?) -> String? {
        if let t = nonEmpty(bodyToken) { return t }
        if let h = request.header("authorization"), let t = nonEmpty(Self.parseAuthorization(h, legacy: legacy)?["token"]) { return t }
        if legacy {
            if let h = request.header("x-emby-authorization"), let t = nonEmpty(Self.parseAuthorization(h, legacy: true)?["token"]) { return t }
            if let t = nonEmpty(request.header("x-emby-token")) { return t }
            if let t = nonEmpty(request.header("x-mediabrowser-token")) { return t }
        }
        if let t = queryToken(request.query) { return t }
        if let uri = request.header("x-forwarded-uri"), let t = queryToken(Self.queryPairs(ofURI: uri)) { return t }
        return nil
    }

    private func queryToken(_ pairs: [(String, String)]) -> String? {
        if let t = nonEmpty(pairs.first(where: { $0.0 == "ApiKey" })?.1) { return t }
        if legacy, let t = nonEmpty(pairs.first(where: { $0.0 == "api_key" })?.1) { return t }
        return nil
    }

    private func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    /// Parses `Scheme key="value", key2="value2"`; keys lowercased, values unquoted and
    /// URL-decoded. Nil when the scheme is not MediaBrowser (or Emby in legacy mode).
    public static func parseAuthorization(_ header: String, legacy: Bool) -> [String: String]? {
        let trimmed = header.drop { $0 == " " || $0 == "\t" }
        guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        let scheme = trimmed[..<space].lowercased()
        guard scheme == "mediabrowser" || (legacy && scheme == "emby") else { return nil }
        var result: [String: String] = [:]
        for part in splitOutsideQuotes(trimmed[space...]) {
            guard let eq = part.firstIndex(of: "=") else { continue }
            let key = part[..<eq].trimmingCharacters(in: " \t").lowercased()
            var value = Substring(part[part.index(after: eq)...].trimmingCharacters(in: " \t"))
            if value.hasPrefix("\"") { value = value.dropFirst() }
            if value.hasSuffix("\"") { value = value.dropLast() }
            guard !key.isEmpty, result[key] == nil else { continue }
            result[key] = formDecoded(value)
        }
        return result
    }

    /// Splits on commas that are not inside double quotes.
    static func splitOutsideQuotes(_ s: Substring) -> [Substring] {
        var parts: [Substring] = []
        var quoted = false
        var start = s.startIndex
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "\"" { quoted.toggle() }
            if c == ",", !quoted {
                parts.append(s[start..<i])
                start = s.index(after: i)
            }
            i = s.index(after: i)
        }
        parts.append(s[start...])
        return parts
    }

    /// The query pairs of a URI or path (`/Items?api_key=…&x=1`), decoded.
    static func queryPairs(ofURI uri: String) -> [(String, String)] {
        guard let q = uri.firstIndex(of: "?") else { return [] }
        var query = uri[uri.index(after: q)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        return query.split(separator: "&").map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (formDecoded(pair[..<eq]), formDecoded(pair[pair.index(after: eq)...]))
            }
            return (formDecoded(pair), "")
        }
    }

    /// `application/x-www-form-urlencoded` decoding (`+` is a space), as .NET's UrlDecode.
    static func formDecoded(_ s: Substring) -> String { percentDecoded(s, plusIsSpace: true) }
}
