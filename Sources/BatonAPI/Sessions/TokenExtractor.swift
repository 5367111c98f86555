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
        if let h = request.header("authorization"), let t = nonEmpty(Self.authorizationToken(h, legacy: legacy)) { return t }
        if legacy {
            if let h = request.header("x-emby-authorization"), let t = nonEmpty(Self.authorizationToken(h, legacy: true)) { return t }
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

    /// `parseAuthorization(header, legacy:)?["token"]` without building the dictionary. An
    /// ASCII header (every real one) is scanned byte by byte, which for ASCII is exactly what
    /// the Character-based parse does; anything else takes that parse.
    static func authorizationToken(_ header: String, legacy: Bool) -> String? {
        var header = header
        if let fast = header.withUTF8({ b -> String?? in
            guard b.allSatisfy({ $0 < 0x80 }) else { return .none }
            return .some(asciiAuthorizationToken(b, legacy: legacy))
        }) {
            return fast
        }
        return parseAuthorization(header, legacy: legacy)?["token"]
    }

    private static let mediaBrowser = Array("mediabrowser".utf8), emby = Array("emby".utf8), tokenKey = Array("token".utf8)

    private static func asciiAuthorizationToken(_ b: UnsafeBufferPointer<UInt8>, legacy: Bool) -> String? {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), quote = UInt8(ascii: "\""), comma = UInt8(ascii: ",")
        func blank(_ c: UInt8) -> Bool { c == space || c == tab }
        func equalsLowercased(_ r: Range<Int>, _ word: [UInt8]) -> Bool {
            r.count == word.count && zip(b[r], word).allSatisfy { c, w in (c >= 0x41 && c <= 0x5A ? c + 0x20 : c) == w }
        }
        var i = 0
        while i < b.count && blank(b[i]) { i += 1 }
        let schemeStart = i
        while i < b.count && !blank(b[i]) { i += 1 }
        guard i < b.count else { return nil }  // no blank after the scheme
        guard equalsLowercased(schemeStart..<i, mediaBrowser) || (legacy && equalsLowercased(schemeStart..<i, emby)) else { return nil }
        // The parts between commas outside quotes; the first whose key is `token` wins.
        func token(in part: Range<Int>) -> String? {
            guard let eq = part.first(where: { b[$0] == UInt8(ascii: "=") }) else { return nil }
            var kLo = part.lowerBound, kHi = eq
            while kLo < kHi && blank(b[kLo]) { kLo += 1 }
            while kHi > kLo && blank(b[kHi - 1]) { kHi -= 1 }
            guard equalsLowercased(kLo..<kHi, tokenKey) else { return nil }
            var vLo = eq + 1, vHi = part.upperBound
            while vLo < vHi && blank(b[vLo]) { vLo += 1 }
            while vHi > vLo && blank(b[vHi - 1]) { vHi -= 1 }
            if vLo < vHi && b[vLo] == quote { vLo += 1 }
            if vLo < vHi && b[vHi - 1] == quote { vHi -= 1 }
            let value = String(decoding: UnsafeBufferPointer(rebasing: b[vLo..<vHi]), as: UTF8.self)
            let plain = !b[vLo..<vHi].contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
            return plain ? value : formDecoded(value[...])
        }
        var quoted = false
        var start = i
        for j in i..<b.count {
            if b[j] == quote { quoted.toggle() }
            if b[j] == comma && !quoted {
                if let t = token(in: start..<j) { return t }
                start = j + 1
            }
        }
        return token(in: start..<b.count)
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
