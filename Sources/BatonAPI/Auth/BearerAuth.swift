import BatonCore
import BatonHTTP

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
        guard let header = request.header("authorization") else {
            return .unauthorized("missing Authorization: Bearer <token> header")
        }
        guard let candidate = Self.bearerCredential(header) else {
            return .unauthorized("Authorization header must use the Bearer scheme")
        }
        guard tokens.contains(candidate) else { return .unauthorized("bearer token is not valid") }
        return nil
    }

    private static let bearerBytes = Array("bearer".utf8)

    /// What follows `Bearer` (any case) after the first run of spaces, trimmed of spaces and
    /// tabs; nil when the header does not have that form.
    static func bearerCredential(_ header: String) -> String? {
        var header = header
        // ASCII (every real header): a byte scan, which for ASCII is exactly the split below.
        if let fast = header.withUTF8({ b -> String?? in
            guard b.allSatisfy({ $0 < 0x80 }) else { return .none }
            let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
            var i = 0
            while i < b.count && b[i] == space { i += 1 }
            let schemeStart = i
            while i < b.count && b[i] != space { i += 1 }
            // A scheme, one space, and something after it (else split gives fewer than 2 parts).
            guard i > schemeStart, i + 1 < b.count else { return .some(nil) }
            guard i - schemeStart == bearerBytes.count,
                  zip(b[schemeStart..<i], bearerBytes).allSatisfy({ ($0 | 0x20) == $1 }) else { return .some(nil) }
            var lo = i + 1, hi = b.count
            while lo < hi && (b[lo] == space || b[lo] == tab) { lo += 1 }
            while hi > lo && (b[hi - 1] == space || b[hi - 1] == tab) { hi -= 1 }
            return .some(String(decoding: UnsafeBufferPointer(rebasing: b[lo..<hi]), as: UTF8.self))
        }) {
            return fast
        }
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
