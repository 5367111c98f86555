import BatonAPI
import BatonCore
import BatonHTTP

/// One entry point over the request-decoding layer, for the libFuzzer target (Entry.swift)
/// and for the corpus replay in the tests; it lives outside the product and reaches
/// BatonAPI's decoders through `package` access: the JSON parser, `BodyReader`
/// with every route's field set and typed getters, the `Authorization: MediaBrowser …`
/// parser, query and form decoding, token extraction and route matching.
///
/// Besides "does not crash", it checks properties that must hold for any input, and
/// traps (a crash the fuzzer reports) when one does not:
/// - a parsed document encodes to JSON that parses back to the same value;
/// - bad input is always a 400 problem, and every problem body is valid JSON;
/// - header parameters come back with lowercased, non-empty keys, and the fast token
///   scan agrees with the full `Authorization` parse.
enum RequestDecodingFuzz {
    /// The fields each route's body accepts, from the routes themselves.
    static let routeFields: [Set<String>] = LeaderRoutes.bodyFields + TaskRoutes.bodyFields + [SessionRoutes.validateFields]

    static let router: Router = {
        var r = Router()
        let ok: RouteHandler = { _, _ in HTTPResponse(status: 200) }
        for (m, p) in [("POST", "/leader"), ("GET", "/leader"), ("GET", "/leases"), ("POST", "/lease/renew"),
                       ("POST", "/lease/release"), ("GET", "/leases/{lease}/history"), ("POST", "/tasks/claim"),
                       ("POST", "/tasks/extend"), ("POST", "/tasks/complete"), ("GET", "/tasks"), ("GET", "/tasks/{task}/runs"),
                       ("GET", "/sessions/validate"), ("POST", "/sessions/validate"), ("GET", "/status")] {
            r.add(m, p, ok)
        }
        return r
    }()

    /// Runs every decoder over `data`. The input is used whole as a body, and split at
    /// its first two newlines into a header value, a URI and a body.
    static func run(_ data: [UInt8]) {
        json(data)
        for (n, fields) in routeFields.enumerated() {
            body(data, allowed: fields, emptyIsObject: n == routeFields.count - 1)
        }

        let parts = data.split(separator: 0x0A, maxSplits: 2, omittingEmptySubsequences: false)
        let header = String(decoding: parts[0], as: UTF8.self)
        let uri = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
        let rest = parts.count > 2 ? Array(parts[2]) : []

        for emby in [false, true] {
            _ = MediaBrowserAuthorization.token(in: header, acceptEmby: emby)
        }
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let query = uri.firstIndex(of: "?").map { String(uri[uri.index(after: $0)...]) } ?? ""
        let fields = [("authorization", header), ("x-emby-authorization", header), ("x-emby-token", header),
                      ("x-emby-token", uri), ("x-forwarded-uri", uri), ("x-original-url", header)]
        let request = HTTPRequest(method: "GET", path: path, headers: Dictionary(fields, uniquingKeysWith: { a, _ in a }),
                                  body: rest, fields: fields, queryString: query)
        let forwarded = HTTPRequest(method: "GET", path: path, headers: Dictionary(fields, uniquingKeysWith: { a, _ in a }),
                                    body: rest, fields: fields, queryString: "")
        for rules in AuthorizationRules.allCases {
            _ = TokenExtractor(rules: rules).token(in: request, bodyToken: nil)
            _ = TokenExtractor(rules: rules).token(in: forwarded, bodyToken: nil)
        }
        do {
            _ = try request.queryLimit()
        } catch {
            problem(error)
        }
        if !rest.isEmpty {
            body(rest, allowed: ["token"], emptyIsObject: true)
        }
        for method in ["GET", "POST", header] {
            if case .found(_, let params) = router.match(method: method, path: path) {
                _ = params["lease"].flatMap(LeaseName.init)
                _ = params["task"].flatMap(TaskName.init)
            }
        }
    }

    private static func json(_ data: [UInt8]) {
        guard let value = try? JSONParser.parse(data) else { return }
        let again: JSONValue
        do {
            again = try JSONParser.parse(value.encoded())
        } catch {
            check(false, "re-parsing the encoding of a parsed document failed: \(error)")
            return
        }
        check(again == value, "JSON round trip changed the value")
    }

    private static func body(_ data: [UInt8], allowed: Set<String>, emptyIsObject: Bool) {
        do {
            let reader = try BodyReader(data, allowed: allowed, emptyIsObject: emptyIsObject)
            // The typed getters the routes call, each on its own: any may fail with a 400.
            // (Plain closures: an array of typed-throws closures crashes the 6.3 compiler.)
            getter { _ = try reader.lease() }
            getter { _ = try reader.task() }
            getter { _ = try reader.holder() }
            getter { _ = try reader.slot() }
            getter { _ = try reader.runId() }
            getter { _ = try reader.fencingToken() }
            getter { _ = try reader.policy() }
            getter { _ = try reader.runStatus() }
            getter { _ = try reader.int("ttl_ms", in: Limits.leaseTTL) }
            getter { _ = try reader.int("lock_at_most_ms", in: Limits.lockAtMost) }
            getter { _ = try reader.int("lock_at_least_ms", in: Limits.lockAtLeast) }
            getter { _ = try reader.string("detail") }
            getter { _ = try reader.string("token") }
        } catch {
            problem(error)
        }
    }

    private static func getter(_ body: () throws -> Void) {
        do {
            try body()
        } catch let p as Problem {
            problem(p, field: true)
        } catch {
            check(false, "a getter threw \(error)")
        }
    }

    /// A problem for bad input: a 400 whose body is valid JSON naming it.
    private static func problem(_ p: Problem, field: Bool = false) {
        check(p.status == 400, "bad input answered \(p.status)")
        if field { check(p.field != nil, "invalid field without a name: \(p.detail)") }
        let response = p.response
        guard let body = try? JSONParser.parse(response.body), case .object = body else {
            check(false, "problem body is not a JSON object")
            return
        }
        check(body["status"] == .int(400) && body["code"] == .string(p.code), "problem body does not match the problem")
    }

    private static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("RequestDecodingFuzz: \(message())") }
    }
}
