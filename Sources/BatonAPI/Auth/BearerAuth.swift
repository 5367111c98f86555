import BatonCore
import BatonHTTP
public import BatonSupport

/// `Authorization: Bearer <token>` on every coordination and ops endpoint.
public struct BearerAuth: Sendable {
    /// nil means authentication is disabled (`BATON_AUTH=disabled`).
    let tokens: TokenSet?

    public init(tokens: TokenSet?) {
        self.tokens = tokens
    }

    public var isDisabled: Bool { tokens == nil }

    /// nil when the request may proceed, else the 401 to send.
    func check(_ request: HTTPRequest) -> Problem? {
        guard let tokens else { return nil }
        // The missing-header problem only when there is none: copying it in first, to be
        // overwritten on every request, cost four retains and releases (issue 17).
        var verdict: Problem?
        var present = false
        request.forEachHeader("authorization") { header in
            present = true
            verdict = Self.judge(header, tokens)
            return false  // the first field only
        }
        return present ? verdict : Self.missing
    }

    /// ASCII (every real header): the credential is found and checked as bytes, with no
    /// String made of the header or the token (two per request: ~600 instructions, callgrind,
    /// issue 17). The comparison is the same constant-time one.
    private static func judge(_ header: UnsafeBufferPointer<UInt8>, _ tokens: TokenSet) -> Problem? {
        if !header.contains(where: { $0 >= 0x80 }) {
            guard let r = credentialRange(header) else { return notBearer }
            return tokens.contains(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: header[r]))) ? nil : notValid
        }
        guard let candidate = bearerCredential(String(decoding: header, as: UTF8.self)) else { return notBearer }
        return tokens.contains(candidate) ? nil : notValid
    }

    private static let missing = Problem.unauthorized("missing Authorization: Bearer <token> header")
    private static let notBearer = Problem.unauthorized("Authorization header must use the Bearer scheme")
    private static let notValid = Problem.unauthorized("bearer token is not valid")
    private static let bearerBytes = Array("bearer".utf8)

    /// Where the credential is in an ASCII header: what follows `Bearer` (any case) after
    /// the first run of spaces, trimmed of spaces and tabs; nil when the header does not
    /// have that form. For ASCII this is exactly the split in ``bearerCredential(_:)``
    /// (`BearerAuthTests` compares them).
    static func credentialRange(_ b: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        var i = 0
        while i < b.count && b[i] == space { i += 1 }
        let schemeStart = i
        while i < b.count && b[i] != space { i += 1 }
        // A scheme, one space, and something after it (else split gives fewer than 2 parts).
        guard i > schemeStart, i + 1 < b.count else { return nil }
        guard i - schemeStart == bearerBytes.count,
              zip(b[schemeStart..<i], bearerBytes).allSatisfy({ ($0 | 0x20) == $1 }) else { return nil }
        var lo = i + 1, hi = b.count
        while lo < hi && (b[lo] == space || b[lo] == tab) { lo += 1 }
        while hi > lo && (b[hi - 1] == space || b[hi - 1] == tab) { hi -= 1 }
        return lo..<hi
    }

    /// What follows `Bearer` (any case) after the first run of spaces, trimmed of spaces and
    /// tabs; nil when the header does not have that form. The definition, for any header.
    static func bearerCredential(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: " \t")
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
