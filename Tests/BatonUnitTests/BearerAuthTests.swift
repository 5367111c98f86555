@testable import BatonAPI
import BatonHTTP
import BatonSupport
import BatonTestSupport
import Testing

/// `Authorization: Bearer` is checked on the header's bytes when it is ASCII
/// (``BearerAuth/credentialRange(_:)``); the definition is the split of
/// ``BearerAuth/bearerCredential(_:)``. They must agree on every header, and the check must
/// accept exactly the configured tokens.
@Suite struct BearerAuthTests {
    static let token = "s3cret-token_0123456789"

    func bytePath(_ header: String) -> String? {
        Array(header.utf8).withUnsafeBufferPointer { b in
            BearerAuth.credentialRange(b).map { String(decoding: UnsafeBufferPointer(rebasing: b[$0]), as: UTF8.self) }
        }
    }

    @Test func theByteScanIsTheSplitForASCII() {
        let pieces = ["Bearer", "bearer", "BEARER", "Bear", "Basic", " ", " ", "\t", "\r", "\n", "tok", Self.token, "x", ",", "="]
        var rng = SplitMix64(seed: 5)
        var found = 0
        for _ in 0..<40_000 {
            var h = ""
            for _ in 0..<Int(rng.below(6)) { h += pieces[Int(rng.below(UInt64(pieces.count)))] }
            let expected = BearerAuth.bearerCredential(h)
            #expect(bytePath(h) == expected, "header \(h.debugDescription)")
            if expected != nil { found += 1 }
        }
        #expect(found > 200)  // the generator reaches well-formed headers too
    }

    @Test func onlyTheConfiguredTokenPasses() {
        let auth = BearerAuth(tokens: TokenSet([Self.token, "other"]))
        func check(_ value: String?) -> String? {
            let request = HTTPRequest(method: "POST", path: "/leader", fields: value.map { [("authorization", $0)] } ?? [])
            return auth.check(request)?.detail
        }
        #expect(check("Bearer \(Self.token)") == nil)
        #expect(check("bearer   \(Self.token) \t") == nil)
        #expect(check("Bearer other") == nil)
        #expect(check(nil) == "missing Authorization: Bearer <token> header")
        #expect(check("Basic \(Self.token)") == "Authorization header must use the Bearer scheme")
        #expect(check("Bearer") == "Authorization header must use the Bearer scheme")
        #expect(check("Bearer \(Self.token)x") == "bearer token is not valid")
        #expect(check("Bearer \(Self.token.dropLast())") == "bearer token is not valid")
        #expect(check("Bearer ") == "Authorization header must use the Bearer scheme")
        #expect(check("Bearer   ") == "bearer token is not valid")  // an empty credential
        // Non-ASCII takes the String path: a token is compared as its UTF-8 bytes.
        let unicode = BearerAuth(tokens: TokenSet(["tökén"]))
        #expect(unicode.check(HTTPRequest(method: "GET", path: "/", fields: [("authorization", "Bearer tökén")])) == nil)
        #expect(unicode.check(HTTPRequest(method: "GET", path: "/", fields: [("authorization", "Bearer token")]))?.status == 401)
        // Only the first Authorization field counts.
        #expect(auth.check(HTTPRequest(method: "GET", path: "/", fields: [("authorization", "Bearer nope"), ("authorization", "Bearer other")]))?.status == 401)
    }
}
