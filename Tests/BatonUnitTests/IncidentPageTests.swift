import BatonSupport
@testable import BatonAPI
import BatonCore
import BatonHTTP
import BatonTestSupport
import Testing

/// The incident page through BatonService, as a browser would reach it: login, cookie,
/// headers, escaping; and the timeline's layout rules.
@Suite struct IncidentPageTests {
    static let token = "ui-test-token-0123456789"

    struct FixedHistory: HistoryReader {
        var runs: [TaskName: [RunRecord]] = [:]
        func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] { Array((runs[task] ?? []).prefix(limit)) }
        func lastRuns() throws(BackendError) -> [TaskName: RunRecord] { runs.compactMapValues(\.first) }
        func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] { [] }
        func guardrails(for resource: Resource) throws(BackendError) -> Guardrails { .none }
        func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? { nil }
    }

    struct NoTokens: TokenDirectory {
        func owner(of token: String) throws(BackendError) -> TokenOwner? { nil }
    }

    struct UnreachableHistory: HistoryReader {
        func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] { throw BackendError(.connect, "connection refused") }
        func lastRuns() throws(BackendError) -> [TaskName: RunRecord] { throw BackendError(.connect, "connection refused") }
        func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] { throw BackendError(.connect, "connection refused") }
        func guardrails(for resource: Resource) throws(BackendError) -> Guardrails { .none }
        func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? { nil }
    }

    /// - Parameter shards: per-shard Redis breakers, as under Redis Cluster.
    static func service(ui: UIMode = .login, history: any HistoryReader = FixedHistory(), clock: any Clock = ManualClock(),
                        shards: BreakerDomains? = nil) -> (BatonService, Services) {
        let store = InMemoryStore(clock: clock)
        let recorder = RecordingHistory()
        let redisBreaker = shards?.primary ?? CircuitBreaker(backend: .redis, clock: clock)
        let services = Services(
            election: LeaderElection(store: store, breaker: redisBreaker, defaultPolicy: .grant, history: recorder, clock: clock,
                                     breakers: shards),
            tasks: TaskCoordinator(store: store, breaker: redisBreaker, defaultPolicy: .grant, history: recorder, clock: clock),
            sessions: SessionValidator(directory: NoTokens(), breaker: CircuitBreaker(backend: .postgres, clock: clock), clock: clock),
            history: history, outbox: HistoryOutbox(store: RecordingHistory()),
            postgresBreaker: CircuitBreaker(backend: .postgres, clock: clock),
            facts: RuntimeFacts(version: "test", startedAtMs: clock.wallMs(), redisEndpoint: "redis://test", postgresEndpoint: "test",
                                authDisabled: false, onRedisFailure: .grant),
            defaults: Defaults())
        let service = BatonService(services: services, auth: BearerAuth(tokens: TokenSet([token])), metrics: Metrics(),
                                   authorizationRules: .legacy, ui: ui)
        return (service, services)
    }

    static func login(_ s: BatonService, token: String, headers: [String: String] = [:]) -> HTTPResponse {
        var h = ["host": "baton.local:8080", "origin": "http://baton.local:8080", "content-type": "application/x-www-form-urlencoded"]
        h.merge(headers) { $1 }
        return s.handle(HTTPRequest(method: "POST", path: "/ui/login", headers: h, body: Array("token=\(token)".utf8)))
    }

    static func cookieValue(_ r: HTTPResponse) -> String? {
        guard let c = r.header("set-cookie") else { return nil }
        return String(c.split(separator: ";")[0])
    }

    static func body(_ r: HTTPResponse) -> String { String(decoding: r.body, as: UTF8.self) }

    /// History is read through the domain's HistoryService: a failing PostgreSQL is named on
    /// the page, and once its breaker is open the page says so instead of asking again.
    @Test func anUnreachableHistoryIsNamedThenTheOpenBreakerIsNotDriven() throws {
        let clock = ManualClock()
        let (_, services) = Self.service(history: UnreachableHistory(), clock: clock)
        guard case .ok = services.election.acquire(LeaseName("jellyfin")!, holder: Holder("pod-a")!, ttlMs: 30_000) else {
            Issue.record("the acquire was not granted")
            return
        }
        let first = IncidentSnapshot.read(services, range: .hour, clock: clock)
        #expect(first.historyError?.hasPrefix("PostgreSQL: ") == true, "\(first.historyError ?? "nil")")
        #expect(first.leases?.count == 1 && first.leasesError == nil)  // Redis still answers
        for _ in 0..<3 { _ = IncidentSnapshot.read(services, range: .hour, clock: clock) }
        #expect(services.postgresBreaker.state == .open)
        let failures = services.postgresBreaker.snapshot().totalFailures
        let later = IncidentSnapshot.read(services, range: .hour, clock: clock)
        #expect(later.historyError == "PostgreSQL breaker is open: history not read")
        #expect(services.postgresBreaker.snapshot().totalFailures == failures)  // not asked again
    }

    @Test func thePageNeedsALoginAndAGoodTokenGivesASessionCookieThatIsNotTheToken() throws {
        let (s, _) = Self.service()
        let anonymous = s.handle(HTTPRequest(method: "GET", path: "/ui"))
        #expect(anonymous.status == 303)
        #expect(anonymous.header("location") == "/ui/login")
        // A bearer header is not a way in either: the page is for browsers with a session.
        #expect(s.handle(HTTPRequest(method: "GET", path: "/ui", headers: ["authorization": "Bearer \(Self.token)"])).status == 303)

        let ok = Self.login(s, token: Self.token)
        #expect(ok.status == 303)
        #expect(ok.header("location") == "/ui")
        let setCookie = try #require(ok.header("set-cookie"))
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        #expect(!setCookie.contains("Secure"))
        #expect(!setCookie.contains(Self.token))
        let cookie = try #require(Self.cookieValue(ok))

        let page = s.handle(HTTPRequest(method: "GET", path: "/ui", headers: ["cookie": "other=1; \(cookie)"]))
        #expect(page.status == 200)
        #expect(Self.body(page).contains("Baton incident view"))
        // A forged or altered cookie is not a session.
        let altered = cookie.dropLast() + (cookie.last == "0" ? "1" : "0")
        #expect(s.handle(HTTPRequest(method: "GET", path: "/ui", headers: ["cookie": String(altered)])).status == 303)
    }

    @Test func aBadTokenIsRefusedWithoutACookie() {
        let (s, _) = Self.service()
        let bad = Self.login(s, token: "not-the-token-at-all-000")
        #expect(bad.status == 401)
        #expect(bad.header("set-cookie") == nil)
        #expect(Self.body(bad).contains("That token was refused"))
        let missing = s.handle(HTTPRequest(method: "POST", path: "/ui/login", headers: ["host": "h"], body: []))
        #expect(missing.status == 400)
        #expect(Self.body(missing).contains("token"))
    }

    @Test func aCrossOriginLoginOrLogoutIsRefused() {
        let (s, _) = Self.service()
        #expect(Self.login(s, token: Self.token, headers: ["origin": "http://evil.example"]).status == 403)
        #expect(Self.login(s, token: Self.token, headers: ["origin": "null"]).status == 403)
        var h = ["host": "baton.local:8080", "sec-fetch-site": "cross-site"]
        #expect(s.handle(HTTPRequest(method: "POST", path: "/ui/login", headers: h, body: Array("token=\(Self.token)".utf8))).status == 403)
        h["origin"] = "http://evil.example"
        #expect(s.handle(HTTPRequest(method: "POST", path: "/ui/logout", headers: h)).status == 403)
        // Behind a proxy the browser's host is X-Forwarded-Host; the default port may be implied.
        #expect(Self.login(s, token: Self.token, headers: ["host": "batond:8080", "x-forwarded-host": "baton.example.org",
                                                           "origin": "https://baton.example.org:443"]).status == 303)
    }

    @Test func theCookieIsSecureBehindTLSAndLogoutClearsIt() throws {
        let (s, _) = Self.service()
        let ok = Self.login(s, token: Self.token, headers: ["x-forwarded-proto": "https"])
        #expect(try #require(ok.header("set-cookie")).contains("; Secure"))
        let out = s.handle(HTTPRequest(method: "POST", path: "/ui/logout", headers: ["host": "baton.local:8080", "origin": "http://baton.local:8080"]))
        #expect(out.status == 303)
        #expect(try #require(out.header("set-cookie")).contains("Max-Age=0"))
    }

    @Test func everyAnswerCarriesAStrictPolicyWhoseStyleHashMatchesTheStylesheet() throws {
        let (s, _) = Self.service(ui: .open)
        let page = s.handle(HTTPRequest(method: "GET", path: "/ui"))
        #expect(page.status == 200)
        let csp = try #require(page.header("content-security-policy"))
        #expect(csp.hasPrefix("default-src 'none'"))
        #expect(csp.contains("frame-ancestors 'none'"))
        #expect(csp.contains("form-action 'self'"))
        #expect(!csp.contains("unsafe-inline"))
        #expect(!csp.contains("script-src"))
        #expect(page.header("x-content-type-options") == "nosniff")
        #expect(page.header("cache-control") == "no-store")
        // The hash in the policy is the hash of the <style> element the page carries.
        let html = Self.body(page)
        let start = try #require(html.firstRange(of: "<style>")).upperBound
        let end = try #require(html.firstRange(of: "</style>")).lowerBound
        let digest = Base64.encode(SHA256.hash(Array(html[start..<end].utf8)).bytes)
        #expect(csp.contains("style-src 'sha256-\(digest)'"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("style=\""))
        #expect(Self.login(s, token: "whatever").status == 303)
    }

    @Test func anUnknownRangeIsA400NamingTheField() {
        let (s, _) = Self.service(ui: .open)
        let r = s.handle(HTTPRequest(method: "GET", path: "/ui", query: [("range", "2w")]))
        #expect(r.status == 400)
        #expect(Self.body(r).contains("range"))
        #expect(s.handle(HTTPRequest(method: "GET", path: "/ui", query: [("range", "7d")])).status == 200)
    }

    @Test func uiOffRemovesTheRoutes() {
        let (s, _) = Self.service(ui: .off)
        #expect(s.handle(HTTPRequest(method: "GET", path: "/ui")).status == 404)
        #expect(Self.login(s, token: Self.token).status == 404)
    }

    @Test func leasesTasksAndRunsAppearAndClientTextIsEscaped() throws {
        let clock = ManualClock()
        let now = SystemClock().wallMs()  // the page reads the real clock for its window
        let task = try #require(TaskName("RefreshLibrary"))
        let runs = [
            RunRecord(runId: "r2", task: task, slot: nil, holder: try #require(Holder("jellyfin-1")), fencingToken: FencingToken(8),
                      claimedAtMs: now - 600_000, finishedAtMs: now - 500_000, status: .failed,
                      detail: "<script>alert(1)</script> & \"quoted\"", mode: .normal, late: true),
            RunRecord(runId: "r1", task: task, slot: nil, holder: try #require(Holder("jellyfin-0")), fencingToken: FencingToken(7),
                      claimedAtMs: now - 700_000, finishedAtMs: now - 550_000, status: .succeeded, mode: .normal),
        ]
        let (s, services) = Self.service(ui: .open, history: FixedHistory(runs: [task: runs]), clock: clock)
        _ = services.election.acquire(try #require(LeaseName("jellyfin-tasks")), holder: try #require(Holder("jellyfin-0")), ttlMs: 30_000)
        let html = Self.body(s.handle(HTTPRequest(method: "GET", path: "/ui", query: [("range", "1h")])))
        #expect(html.contains("data-lease=\"jellyfin-tasks\""))
        #expect(html.contains("<td class=\"holder\">jellyfin-0</td>"))
        #expect(html.contains("data-task=\"RefreshLibrary\" data-pod=\"jellyfin-1\" data-status=\"failed\" data-overlap=\"1\" data-late=\"1\""))
        #expect(html.contains("data-pod=\"jellyfin-0\" data-status=\"succeeded\" data-overlap=\"1\""))
        #expect(html.contains("2 runs, <span class=\"bad\">2 overlapping</span>"))
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"))
    }

    @Test func anOpenRedisBreakerIsShownAndItsPeriodShaded() throws {
        let task = try #require(TaskName("RefreshLibrary"))
        let now = SystemClock().wallMs()
        let run = RunRecord(runId: "r1", task: task, slot: nil, holder: try #require(Holder("jellyfin-0")), fencingToken: nil,
                            claimedAtMs: now - 60_000, finishedAtMs: now - 30_000, status: .succeeded, mode: .degraded)
        // The breaker records transitions on its clock; the page's window is the real one.
        let (s, services) = Self.service(ui: .open, history: FixedHistory(runs: [task: [run]]), clock: SystemClock())
        let before = Self.body(s.handle(HTTPRequest(method: "GET", path: "/ui")))
        #expect(!before.contains("data-degraded"))
        for _ in 0..<3 { _ = services.redisBreaker.run { () throws(BackendError) in throw BackendError(.connect, "connection refused <x>") } }
        let html = Self.body(s.handle(HTTPRequest(method: "GET", path: "/ui")))
        #expect(html.contains("<tr data-backend=\"redis\"><td>redis</td><td><span class=\"pill open\">open</span>"))
        #expect(html.contains("connect: connection refused &lt;x&gt;"))
        #expect(html.contains("data-degraded=\"1\""))
        #expect(html.contains("fill-opacity=\"0.55\""))  // the degraded-mode run is drawn faded
    }

    @Test func runMetricsCountPerTaskAndBoundTheLabels() throws {
        let m = TaskRunMetrics()
        let pod = try #require(Holder("jellyfin-0"))
        for i in 0..<(TaskRunMetrics.maxTasks + 5) {
            let t = try #require(TaskName("task-\(i)"))
            m.observe(RunRecord(runId: "c\(i)", task: t, slot: nil, holder: pod, fencingToken: nil, claimedAtMs: 1_000, mode: .normal))
            m.observe(RunRecord(runId: "c\(i)", task: t, slot: nil, holder: pod, fencingToken: nil, claimedAtMs: 1_000,
                                finishedAtMs: 3_000, status: i == 0 ? .failed : .succeeded, mode: .normal, late: i == 0))
        }
        var out = ""
        m.render(into: &out)
        #expect(out.contains("baton_task_runs_total{task=\"task-0\",status=\"failed\"} 1\n"))
        #expect(out.contains("baton_task_late_completions_total{task=\"task-0\"} 1\n"))
        #expect(out.contains("baton_task_last_claim_timestamp_seconds{task=\"task-1\"} 1.0\n"))
        #expect(out.contains("baton_task_last_success_timestamp_seconds{task=\"task-1\"} 3.0\n"))
        #expect(out.contains("baton_task_runs_total{task=\"_other\",status=\"succeeded\"} 5\n"))
        let series = Set(out.split(separator: "\n").filter { $0.hasPrefix("baton_task_runs_total{") }.map { $0.split(separator: ",")[0] })
        #expect(series.count == TaskRunMetrics.maxTasks + 1)
    }

    // MARK: - Layout

    static func run(_ id: String, _ start: Int64?, _ end: Int64?, late: Bool = false) -> RunRecord {
        RunRecord(runId: id, task: TaskName("T")!, slot: nil, holder: Holder("pod-\(id)")!, fencingToken: nil,
                  claimedAtMs: start, finishedAtMs: end, status: end == nil ? .running : .succeeded, mode: .normal, late: late)
    }

    @Test func overlappingRunsAreMarkedAndStackedAndSequentialOnesAreNot() {
        let layout = TimelineLayout(fromMs: 0, toMs: 10_000)
        let row = layout.row(TaskName("T")!, [Self.run("a", 1_000, 2_000), Self.run("b", 2_000, 3_000), Self.run("c", 2_500, 4_000),
                                              Self.run("d", 5_000, nil), Self.run("late", nil, 6_000, late: true)], nowMs: 9_000)
        let byId = Dictionary(uniqueKeysWithValues: row.bars.map { ($0.run.runId, $0) })
        #expect(byId["a"]?.overlaps == false)   // touching is not overlapping
        #expect(byId["b"]?.overlaps == true)
        #expect(byId["c"]?.overlaps == true)
        #expect(byId["c"]?.lane != byId["b"]?.lane)
        #expect(byId["d"]?.endMs == 9_000)       // still running: drawn up to now
        #expect(byId["late"]?.startMs == 6_000)  // no known start: a point at its finish
        #expect(byId["late"]?.overlaps == true)  // inside d, which is still running
        #expect(row.lanes == 2)
    }

    @Test func degradedPeriodsFollowTheBreakerAndAnOpenOneRunsToNow() {
        typealias T = CircuitBreaker.Transition
        let ts = [T(atMs: 100, state: .open), T(atMs: 200, state: .halfOpen), T(atMs: 250, state: .open),
                  T(atMs: 300, state: .closed), T(atMs: 800, state: .open)]
        let periods = degradedPeriods(ts, current: .open, fromMs: 150, toMs: 1_000)
        #expect(periods.map { [$0.0, $0.1] } == [[150, 300], [800, 1_000]])
    }

    @Test func theBreakerRecordsItsTransitions() {
        let clock = ManualClock()
        let b = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 1_000, clock: clock)
        _ = b.run { () throws(BackendError) in throw BackendError(.connect, "down") }
        clock.advance(ms: 1_000)
        _ = b.run { () throws(BackendError) in 1 }
        #expect(b.transitions().map(\.state) == [.open, .halfOpen, .closed])
        #expect(b.transitions().first?.atMs == clock.wallMs() - 1_000)
    }
}

@Suite struct SessionTicketTests {
    @Test func hmacMatchesRFC4231() {
        let tag = HMACSHA256.tag(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(SHA256.Digest.hex(tag) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func aTicketIsValidForItsTokenUntilItExpires() {
        let tokens = TokenSet(["first-token-0123456789", "second-token-0123456789"])
        let t = SessionTicket.issue(token: "second-token-0123456789", expiresAtSeconds: 1_000)
        #expect(SessionTicket.verify(t, tokens: tokens, nowSeconds: 999, maxAgeSeconds: 100))
        #expect(!SessionTicket.verify(t, tokens: tokens, nowSeconds: 1_000, maxAgeSeconds: 100))
        #expect(!SessionTicket.verify(t, tokens: tokens, nowSeconds: 800, maxAgeSeconds: 100))  // claims too long a life
        #expect(!SessionTicket.verify(t, tokens: TokenSet(["first-token-0123456789"]), nowSeconds: 999, maxAgeSeconds: 100))
        let stretched = t.replacingFirst("1000", with: "1001")
        #expect(!SessionTicket.verify(stretched, tokens: tokens, nowSeconds: 999, maxAgeSeconds: 100))
        #expect(!SessionTicket.verify("v1.1000.zz", tokens: tokens, nowSeconds: 999, maxAgeSeconds: 100))
        #expect(!SessionTicket.verify("", tokens: tokens, nowSeconds: 999, maxAgeSeconds: 100))
    }
}

extension SHA256.Digest {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = firstRange(of: a) else { return self }
        return String(self[..<r.lowerBound]) + b + String(self[r.upperBound...])
    }
}
