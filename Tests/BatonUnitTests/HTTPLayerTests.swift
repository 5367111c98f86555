import BatonAPI
import BatonHTTP
import Testing

@Suite struct JSONParserTests {
    func parse(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }

    @Test func parsesDocuments() throws {
        let v = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\"\u00e9\ud83d\ude00", "c": {}} "#)
        #expect(v["a"] == .array([.int(1), .double(-2500), .bool(true), .bool(false), .null]))
        #expect(v["b"] == .string("x\"é😀"))
        #expect(v["c"] == .object([]))
    }

    @Test func keepsLargeIntegersExact() throws {
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        // Integers are read digit by digit (no String): the same answers as Int64(String).
        #expect(try parse("-9223372036854775809") == .double(Double("-9223372036854775809")!))
        #expect(try parse("18446744073709551616") == .double(18446744073709551616))
        #expect(try parse("99999999999999999999") == .double(Double("99999999999999999999")!))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("[0, 7, -42, 30000]") == .array([.int(0), .int(7), .int(-42), .int(30000)]))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "tru", "\"\\x\"", "\"a\u{01}\"",
                      "{\"a\":1,\"a\":2}", "[1] 2", "\"\\ud800\"", "\"\\udc00\"", "1e999", "{a:1}", "'a'", "nul"])
    func rejectsMalformed(_ s: String) {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(Array(s.utf8)) }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(Array(deep.utf8)) }
    }

    @Test func encodesWhatItParses() throws {
        let v: JSONValue = ["s": "a\"b\\c\n\u{1}", "n": 3, "list": [true, nil], "o": ["k": "v"]]
        #expect(try JSONParser.parse(v.encoded()) == v)
        #expect(v.text == #"{"s":"a\"b\\c\n\u0001","n":3,"list":[true,null],"o":{"k":"v"}}"#)
    }
}

@Suite struct BodyReaderTests {
    @Test func namesTheFieldAtFault() {
        func problem(_ body: String, _ allowed: Set<String> = ["lease", "ttl_ms"]) -> Problem? {
            do {
                let r = try BodyReader(Array(body.utf8), allowed: allowed)
                _ = try r.string("lease", required: true)
                _ = try r.int("ttl_ms", in: 1_000...86_400_000)
                return nil
            } catch { return error }
        }
        #expect(problem(#"{"lease":"a","ttl":5}"#)?.field == "ttl")
        #expect(problem(#"{"ttl_ms":5000}"#)?.field == "lease")
        #expect(problem(#"{"lease":5}"#)?.detail.contains("expected string") == true)
        #expect(problem(#"{"lease":"a","ttl_ms":"5000"}"#)?.field == "ttl_ms")
        #expect(problem(#"{"lease":"a","ttl_ms":999}"#)?.field == "ttl_ms")
        #expect(problem(#"{"lease":"a","ttl_ms":1.5}"#)?.field == "ttl_ms")
        #expect(problem(#"[1]"#)?.code == "invalid_json")
        #expect(problem(#"{"lease":"#)?.code == "invalid_json")
        #expect(problem("")?.code == "invalid_json")
        #expect(problem(#"{"lease":"a","ttl_ms":5000}"#) == nil)
        #expect(problem(#"{"lease":"a","ttl_ms":null}"#) == nil)
        // Keys written with escapes are the same fields, and a repeat is a duplicate either way.
        #expect(problem(#"{"le\u0061se":"a","ttl_ms":5000}"#) == nil)
        #expect(problem(#"{"lease":"a","le\u0061se":"b"}"#)?.detail.contains("duplicate key") == true)
        #expect(problem(#"{"lease":"a","lease":"b"}"#)?.detail.contains("duplicate key") == true)
        #expect(problem(#"{"leas":"a"}"#)?.field == "leas")
        #expect(problem(#"{"leasee":"a"}"#)?.field == "leasee")
        #expect(problem(#"{"lease":"a","x":1}"#)?.detail.contains("allowed: lease, ttl_ms") == true)
        // Nested objects keep their own keys, known or not.
        #expect(problem(#"{"lease":{"lease":1,"ttl_ms":2}}"#)?.detail.contains("expected string, got object") == true)
    }

    @Test func problemsRenderAsProblemJSON() throws {
        let r = Problem.invalidField("ttl_ms", "must be between 1000 and 86400000").response
        #expect(r.status == 400 && r.header("content-type") == "application/problem+json")
        let body = try JSONParser.parse(r.body)
        #expect(body["status"] == .int(400) && body["field"] == .string("ttl_ms") && body["code"] == .string("invalid_field"))
        #expect(body["type"] != nil && body["title"] != nil && body["detail"] != nil)
    }
}

@Suite struct RouterTests {
    var router: Router {
        var r = Router()
        r.add("POST", "/leader") { _, _ in HTTPResponse(status: 201) }
        r.add("GET", "/leader") { _, _ in HTTPResponse(status: 202) }
        r.add("GET", "/tasks/{task}/runs") { _, p in HTTPResponse(status: 200, body: Array((p["task"] ?? "").utf8)) }
        return r
    }

    @Test func matchesLiteralAndCapturedSegments() {
        guard case .found(let route, let p) = router.match(method: "GET", path: "/tasks/Scan/runs") else { Issue.record("no match"); return }
        #expect(route.pattern == "/tasks/{task}/runs" && p["task"] == "Scan")
        guard case .found(let post, _) = router.match(method: "POST", path: "/leader") else { Issue.record("no match"); return }
        #expect(post.method == "POST")
    }

    /// The look-up of literal paths picks what the scan in registration order picks: an
    /// earlier capture route of the same method still wins over a later literal one, and a
    /// path spelled with extra slashes still finds its route.
    @Test func literalPathsMatchAsTheOrderedScanDoes() {
        var r = Router()
        r.add("GET", "/tasks/{task}") { _, _ in HTTPResponse(status: 200) }
        r.add("GET", "/tasks/claim") { _, _ in HTTPResponse(status: 201) }
        r.add("POST", "/tasks/claim") { _, _ in HTTPResponse(status: 202) }
        guard case .found(let get, let p) = r.match(method: "GET", path: "/tasks/claim"),
              case .found(let post, _) = r.match(method: "POST", path: "/tasks/claim"),
              case .found(let slashes, _) = r.match(method: "POST", path: "//tasks/claim/") else {
            Issue.record("no match"); return
        }
        #expect(get.pattern == "/tasks/{task}" && p["task"] == "claim")
        #expect(post.pattern == "/tasks/claim" && post.method == "POST" && slashes.index == post.index)
        guard case .methodNotAllowed(let allowed) = r.match(method: "PUT", path: "/tasks/claim") else { Issue.record("not 405"); return }
        #expect(allowed == ["GET", "POST"])
    }

    @Test func wrongMethodIs405WithAllowAndUnknownIs404() {
        guard case .methodNotAllowed(let allowed) = router.match(method: "DELETE", path: "/leader") else { Issue.record("not 405"); return }
        #expect(allowed == ["POST", "GET"])
        guard case .notFound = router.match(method: "GET", path: "/tasks/Scan") else { Issue.record("not 404"); return }
        guard case .notFound = router.match(method: "GET", path: "/nope") else { Issue.record("not 404"); return }
    }
}

@Suite struct TokenExtractorTests {
    let legacy = TokenExtractor(legacy: true)
    let modern = TokenExtractor(legacy: false)
    let v1010 = TokenExtractor(rules: .jellyfin10_10)

    /// Header fields in order (repeats allowed), as the HTTP layer delivers them.
    func request(_ fields: [(String, String)] = [], query: String = "") -> HTTPRequest {
        let lowered = fields.map { ($0.0.lowercased(), $0.1) }
        var first: [String: String] = [:]
        for (n, v) in lowered where first[n] == nil { first[n] = v }
        return HTTPRequest(method: "GET", path: "/sessions/validate", headers: first, fields: lowered, queryString: query)
    }

    func request(headers: [String: String] = [:], query: [(String, String)] = []) -> HTTPRequest {
        HTTPRequest(method: "GET", path: "/sessions/validate", headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) }),
                    query: query)
    }

    @Test func parsesMediaBrowserHeadersLikeJellyfin() {
        let h = #"MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="TW96aWxsYQ%3D%3D", Version="10.11.0", Token="abc123""#
        #expect(MediaBrowserAuthorization.token(in: h, acceptEmby: false) == "abc123")
        #expect(MediaBrowserAuthorization.token(in: #"mediabrowser   Token="t%2Bx",Client="a, b""#, acceptEmby: false) == "t+x")
        #expect(MediaBrowserAuthorization.token(in: #"Emby Token="e""#, acceptEmby: false) == nil)
        #expect(MediaBrowserAuthorization.token(in: #"Emby Token="e""#, acceptEmby: true) == "e")
        #expect(MediaBrowserAuthorization.token(in: "Bearer xyz", acceptEmby: true) == nil)
        // GetAuthorization: the scheme ends at the first U+0020; a leading blank or a tab breaks it.
        #expect(MediaBrowserAuthorization.token(in: #" MediaBrowser Token="t""#, acceptEmby: true) == nil)
        #expect(MediaBrowserAuthorization.token(in: "MediaBrowser\tToken=\"t\"", acceptEmby: true) == nil)
        // GetParts: quotes trimmed, whitespace kept; every quote at either end goes.
        #expect(MediaBrowserAuthorization.token(in: #"MediaBrowser Token="t" , Client=x"#, acceptEmby: true) == "t\" ")
        #expect(MediaBrowserAuthorization.token(in: #"MediaBrowser Token=""t"""#, acceptEmby: true) == "t")
        #expect(MediaBrowserAuthorization.token(in: "MediaBrowser Token=a+b%2", acceptEmby: true) == "a b%2")
        // An empty segment keeps the key: the next value is the Token.
        #expect(MediaBrowserAuthorization.token(in: "MediaBrowser Token=,x", acceptEmby: true) == "x")
        #expect(MediaBrowserAuthorization.token(in: "MediaBrowser Token=a=b", acceptEmby: true) == nil)
    }

    /// The cases of issue 19, each judged as Jellyfin judges it.
    @Test func readsTheTokenJellyfinActsOn() {
        // Duplicate keys: the LAST Token wins.
        #expect(legacy.token(in: request([("Authorization", #"MediaBrowser Token="A", Token="R""#)]), bodyToken: nil) == "R")
        // Keys are case-sensitive: `token` is not Token.
        #expect(legacy.token(in: request([("Authorization", #"MediaBrowser token="A""#), ("X-Emby-Token", "R")]), bodyToken: nil) == "R")
        // X-Emby-Authorization only without an Authorization header (10.11+) ...
        let basic = request([("Authorization", "Basic Zm9v"), ("X-Emby-Authorization", #"MediaBrowser Token="A""#), ("X-Emby-Token", "R")])
        #expect(legacy.token(in: basic, bodyToken: nil) == "R")
        // ... while 10.9/10.10 read it first.
        #expect(v1010.token(in: basic, bodyToken: nil) == "A")
        // Query keys are case-insensitive: apikey is ApiKey, read before api_key.
        #expect(legacy.token(in: request([("X-Forwarded-Uri", "/Items?apikey=R&api_key=A")]), bodyToken: nil) == "R")
        // NUL survives to the validator (which refuses it), never cut.
        #expect(legacy.token(in: request(query: "api_key=A%00junk"), bodyToken: nil) == "A\u{0}junk")
        #expect(legacy.token(in: request([("Authorization", #"MediaBrowser Token="A%00x""#)]), bodyToken: nil) == "A\u{0}x")
    }

    @Test func repeatedHeadersAndQueryKeysAreJoinedWithCommas() {
        #expect(legacy.token(in: request([("X-Emby-Token", "A"), ("X-Emby-Token", "R")]), bodyToken: nil) == "A,R")
        #expect(legacy.token(in: request(query: "ApiKey=A&APIKEY=R"), bodyToken: nil) == "A,R")
        // The FIRST Authorization header is parsed.
        #expect(legacy.token(in: request([("Authorization", #"MediaBrowser Token="A""#), ("Authorization", #"MediaBrowser Token="R""#)]),
                             bodyToken: nil) == "A")
        // An empty first value is still the first value when another follows.
        #expect(legacy.token(in: request([("Authorization", ""), ("Authorization", #"MediaBrowser Token="R""#),
                                          ("X-Emby-Authorization", #"MediaBrowser Token="A""#)]), bodyToken: nil) == nil)
        // Query decoding as ASP.NET: invalid UTF-8 stays escaped.
        #expect(legacy.token(in: request(query: "ApiKey=A%c3%28"), bodyToken: nil) == "A%C3(")
    }

    @Test func followsJellyfinsOrder() {
        let all = request(headers: ["Authorization": #"MediaBrowser Token="from-auth""#, "X-Emby-Token": "from-emby"],
                          query: [("ApiKey", "from-query")])
        #expect(legacy.token(in: all, bodyToken: "from-body") == "from-body")
        #expect(legacy.token(in: all, bodyToken: nil) == "from-auth")
        #expect(legacy.token(in: request(headers: ["X-Emby-Token": "e", "X-MediaBrowser-Token": "m"]), bodyToken: nil) == "e")
        #expect(legacy.token(in: request(headers: ["X-MediaBrowser-Token": "m"]), bodyToken: nil) == "m")
        #expect(legacy.token(in: request(headers: ["X-Emby-Authorization": #"MediaBrowser Token="xa""#]), bodyToken: nil) == "xa")
        #expect(legacy.token(in: request(query: [("api_key", "k")]), bodyToken: nil) == "k")
        #expect(legacy.token(in: request(query: [("ApiKey", "K"), ("api_key", "k")]), bodyToken: nil) == "K")
    }

    @Test func legacyFormsOnlyInLegacyMode() {
        #expect(modern.token(in: request(headers: ["X-Emby-Token": "e"]), bodyToken: nil) == nil)
        #expect(modern.token(in: request(query: [("api_key", "k")]), bodyToken: nil) == nil)
        #expect(modern.token(in: request(query: [("ApiKey", "K")]), bodyToken: nil) == "K")
        #expect(modern.token(in: request(headers: ["X-Emby-Authorization": #"MediaBrowser Token="xa""#]), bodyToken: nil) == nil)
    }

    @Test func readsTheForwardedUriOfTraefikAndNginx() {
        let r = request(headers: ["X-Forwarded-Uri": "/Videos/1/stream?static=true&api_key=abc%20def"])
        #expect(legacy.token(in: r, bodyToken: nil) == "abc def")
        #expect(modern.token(in: r, bodyToken: nil) == nil)
        #expect(modern.token(in: request(headers: ["X-Forwarded-Uri": "/Items?ApiKey=zz"]), bodyToken: nil) == "zz")
        // ingress-nginx: the whole URL in X-Original-URL; nginx set-ups: X-Original-URI.
        #expect(legacy.token(in: request([("X-Original-URL", "https://jf.example/Videos/abc/stream.mkv?static=true&api_key=K")]),
                             bodyToken: nil) == "K")
        #expect(legacy.token(in: request([("X-Original-URI", "/Items/1/Images/Primary?ApiKey=K")]), bodyToken: nil) == "K")
        // The request's own query wins over a forwarded one.
        #expect(legacy.token(in: request([("X-Forwarded-Uri", "/x?ApiKey=F")], query: "ApiKey=Q"), bodyToken: nil) == "Q")
    }
}
