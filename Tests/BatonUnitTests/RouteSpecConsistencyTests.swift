import BatonAPI
import BatonCore
import BatonHTTP
import BatonTestSupport
import Testing

/// The server's routes and the contract's operations must be the same set: a route
/// added without documenting it (or a documented operation the server lost) fails here.
/// Paths are compared as written, so `{lease}` in a route must be `{lease}` in the spec.
/// The spec is the copy compiled into BatonAPI (`OpenAPISpec`), which is
/// `openapi/openapi.yaml` itself, embedded through a link.
@Suite struct RouteSpecConsistencyTests {
    @Test func everyRouteIsInTheSpecAndEveryOperationIsARoute() {
        let routes = Set(Self.service().router.routes.map { "\($0.method) \($0.pattern)" })
        let documented = Set(Self.operations(inSpec: OpenAPISpec.text))

        #expect(!routes.isEmpty)
        #expect(!documented.isEmpty)
        let undocumented = routes.subtracting(documented).sorted()
        let unserved = documented.subtracting(routes).sorted()
        #expect(undocumented.isEmpty, "routes missing from openapi/openapi.yaml: \(undocumented)")
        #expect(unserved.isEmpty, "operations in openapi/openapi.yaml that batond does not route: \(unserved)")
    }

    @Test func theParserReadsPathsAndMethodsOnly() {
        let yaml = """
        openapi: 3.1.0
        paths:
          /a:
            description: not a method
            parameters: []
            get:
              operationId: getA
            post:
              operationId: postA
          /b/{id}/c:
            delete:
              responses: {}
        components:
          schemas:
            X:
              get: not a path
        """
        #expect(Self.operations(inSpec: yaml) == ["GET /a", "POST /a", "DELETE /b/{id}/c"])
    }

    // MARK: - The server

    static func service(version: String = "test") -> BatonService {
        let clock = ManualClock()
        let store = InMemoryStore(clock: clock)
        let history = RecordingHistory()
        let services = Services(
            election: LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                     history: history, clock: clock),
            tasks: TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                   history: history, clock: clock),
            sessions: SessionValidator(directory: NoTokens(), breaker: CircuitBreaker(backend: .postgres, clock: clock), clock: clock),
            history: NoHistory(),
            outbox: HistoryOutbox(store: RecordingHistory()),
            postgresBreaker: CircuitBreaker(backend: .postgres, clock: clock),
            facts: RuntimeFacts(version: version, startedAtMs: clock.wallMs(), redisEndpoint: "redis://test", postgresEndpoint: "test",
                                authDisabled: true, onRedisFailure: .grant),
            defaults: Defaults())
        return BatonService(services: services, auth: BearerAuth(tokens: nil), metrics: Metrics(), authorizationRules: .legacy)
    }

    struct NoTokens: TokenDirectory {
        func owner(of token: String) throws(BackendError) -> TokenOwner? { nil }
    }

    struct NoHistory: HistoryReader {
        func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] { [] }
        func lastRuns() throws(BackendError) -> [TaskName: RunRecord] { [:] }
        func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] { [] }
        func guardrails(for resource: Resource) throws(BackendError) -> Guardrails { .none }
        func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? { nil }
    }

    // MARK: - A small reader for the spec's `paths:` section

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    /// "METHOD /path" for every operation under `paths:`: path keys are the lines at
    /// two spaces of indentation, operations the HTTP-method keys at four.
    static func operations(inSpec yaml: String) -> [String] {
        var result: [String] = []
        var currentPath: String?
        for line in pathsSection(yaml) {
            if let key = key(of: line, indent: 2) {
                currentPath = key.hasPrefix("/") ? key : nil
            } else if let path = currentPath, let key = key(of: line, indent: 4), httpMethods.contains(key) {
                result.append("\(key.uppercased()) \(path)")
            }
        }
        return result
    }

    /// The lines between `paths:` and the next top-level key.
    static func pathsSection(_ yaml: String) -> [String] {
        var lines: [String] = []
        var inside = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if let top = key(of: line, indent: 0) {
                inside = top == "paths"
                continue
            }
            if inside { lines.append(line) }
        }
        return lines
    }

    /// The mapping key of `line` when it sits at exactly `indent` spaces (quotes removed).
    static func key(of line: String, indent expected: Int) -> String? {
        guard indent(of: line) == expected else { return nil }
        let rest = line.dropFirst(expected)
        guard let first = rest.first, first != "#", first != "-", let colon = rest.firstIndex(of: ":") else { return nil }
        let after = rest[rest.index(after: colon)...]
        guard after.isEmpty || after.first == " " else { return nil }
        var key = String(rest[..<colon])
        if key.count >= 2, let q = key.first, q == "'" || q == "\"", key.last == q { key = String(key.dropFirst().dropLast()) }
        return key
    }

    static func indent(of line: String) -> Int { line.prefix { $0 == " " }.count }
}

