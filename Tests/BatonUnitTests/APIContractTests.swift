import BatonSupport
@testable import BatonAPI
import BatonCore
import BatonHTTP
import BatonTestSupport
import Testing

/// Every route's contract (status, body shape, problem+json code, headers) through
/// ``BatonService`` with the in-memory stores and a hand-moved clock: no socket, no server.
/// The real-server tests (Tests/BatonIntegrationTests) keep what needs a socket.
@Suite struct APIContractTests {
    static let token = "api-test-token-0123456789"
    let clock = ManualClock()
    let store: InMemoryStore
    let history: InMemoryHistory
    let directory = FakeDirectory()
    let service: BatonService
    let services: Services
    let metrics = Metrics()

    init() {
        store = InMemoryStore(clock: clock)
        history = InMemoryHistory(clock: clock)
        // As batond wires it: history events pass the run metrics on their way to the outbox.
        let recorder = ObservedHistory(RecordingHistory(), runs: metrics.runs)
        let postgresBreaker = CircuitBreaker(backend: .postgres, threshold: 1, cooldownMs: 4_000, clock: clock)
        // As batond wires it (Sources/batond/Application.swift): one floor over the history.
        let floor = DurableFencingFloor(history: history, breaker: postgresBreaker, clock: clock)
        let redisBreaker = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 2_000, clock: clock)
        services = Services(
            election: LeaderElection(store: store, breaker: redisBreaker, defaultPolicy: .grant, history: recorder,
                                     fencingFloor: floor, clock: clock),
            tasks: TaskCoordinator(store: store, breaker: redisBreaker, defaultPolicy: .grant, history: recorder,
                                   fencingFloor: floor, clock: clock),
            sessions: SessionValidator(directory: directory, breaker: CircuitBreaker(backend: .postgres, threshold: 1, cooldownMs: 3_000, clock: clock),
                                       clock: clock),
            history: history, outbox: HistoryOutbox(store: RecordingHistory()),
            postgresBreaker: postgresBreaker,
            facts: RuntimeFacts(version: "test", startedAtMs: clock.wallMs(), redisEndpoint: "redis://test", postgresEndpoint: "test",
                                authDisabled: false, onRedisFailure: .grant),
            defaults: Defaults())
        service = BatonService(services: services, auth: BearerAuth(tokens: TokenSet([Self.token])), metrics: metrics,
                               authorizationRules: .legacy)
    }

    func call(_ method: String, _ path: String, _ body: String? = nil, query: [(String, String)] = [],
              headers: [String: String] = [:], auth: Bool = true) -> (HTTPResponse, JSONValue?) {
        var h = headers
        if auth { h["authorization"] = "Bearer \(Self.token)" }
        if body != nil { h["content-type"] = "application/json" }
        let r = service.handle(HTTPRequest(method: method, path: path, headers: h, query: query, body: Array((body ?? "").utf8)))
        return (r, try? JSONParser.parse(r.body))
    }

    /// A problem+json answer with `status` and `code` (and `field` when given).
    func expectProblem(_ r: (HTTPResponse, JSONValue?), _ status: Int, _ code: String, field: String? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.0.status == status, sourceLocation: sourceLocation)
        #expect(r.0.header("content-type") == "application/problem+json", sourceLocation: sourceLocation)
        #expect(r.1?["code"] == .string(code), sourceLocation: sourceLocation)
        #expect(r.1?["status"] == .int(Int64(status)), sourceLocation: sourceLocation)
        if let field { #expect(r.1?["field"] == .string(field), sourceLocation: sourceLocation) }
    }

    /// A run Jellyfin made by itself counts in `baton_task_runs_total` like a claimed one:
    /// the failed-run alert must not miss a failure because nobody claimed it.
    @Test func anExternalRunIsCountedByTheRunMetrics() {
        let (claimed, c) = call("POST", "/tasks/claim", #"{"task":"scan","holder":"pod-a"}"#)
        guard claimed.status == 200, case .string(let runId) = c?["run_id"] else { Issue.record("no claim"); return }
        _ = call("POST", "/tasks/complete", #"{"task":"scan","run_id":"\#(runId)","holder":"pod-a","status":"succeeded"}"#)
        let now = clock.wallMs()
        let (external, _) = call("POST", "/tasks/scan/runs",
                                 #"{"holder":"pod-b","status":"failed","started_at_ms":\#(now - 5_000),"finished_at_ms":\#(now)}"#)
        #expect(external.status == 200)
        let (scrape, _) = call("GET", "/metrics")
        let text = String(decoding: scrape.body, as: UTF8.self)
        #expect(text.contains(#"baton_task_runs_total{task="scan",status="succeeded"} 1"#))
        #expect(text.contains(#"baton_task_runs_total{task="scan",status="failed"} 1"#), "the external failed run was not counted")
    }

    // MARK: leader

    @Test func leaderAcquireRenewStateAndRelease() throws {
        let (ok, v) = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-a","ttl_ms":10000}"#)
        #expect(ok.status == 200 && ok.header("content-type") == "application/json")
        #expect(v?["leader"] == true && v?["acquired"] == true && v?["holder"] == "pod-a" && v?["ttl_ms"] == 10_000 && v?["mode"] == "normal")
        guard case .int(let token) = v?["fencing_token"] else { Issue.record("no fencing token"); return }

        let (other, o) = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-b"}"#)
        #expect(other.status == 409 && o?["leader"] == false && o?["holder"] == "pod-a")

        clock.advance(ms: 4_000)
        let (state, s) = call("GET", "/leader", query: [("lease", "scheduler"), ("holder", "pod-b")])
        #expect(state.status == 200 && s?["holder"] == "pod-a" && s?["leader"] == false && s?["expires_in_ms"] == 6_000)

        let (renewed, r) = call("POST", "/lease/renew", #"{"lease":"scheduler","holder":"pod-a","ttl_ms":10000,"fencing_token":\#(token)}"#)
        #expect(renewed.status == 200 && r?["fencing_token"] == .int(token) && r?["expires_in_ms"] == 10_000)
        let (stale, _) = call("POST", "/lease/renew", #"{"lease":"scheduler","holder":"pod-a","fencing_token":\#(token - 1)}"#)
        #expect(stale.status == 409)

        let (leases, l) = call("GET", "/leases")
        #expect(leases.status == 200)
        guard case .array(let items) = l?["leases"] else { Issue.record("no leases array"); return }
        #expect(items.count == 1 && items.first?["lease"] == "scheduler")

        #expect(call("POST", "/lease/release", #"{"lease":"scheduler","holder":"pod-b"}"#).0.status == 409)
        let (released, rel) = call("POST", "/lease/release", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(released.status == 200 && rel?["released"] == true)
        #expect(call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-b"}"#).0.status == 200)
    }

    @Test func leaderBadInputNamesTheField() {
        expectProblem(call("POST", "/leader", #"{"holder":"pod-a"}"#), 400, "invalid_field", field: "lease")
        expectProblem(call("POST", "/leader", #"{"lease":"bad name","holder":"pod-a"}"#), 400, "invalid_field", field: "lease")
        expectProblem(call("POST", "/leader", #"{"lease":"l","holder":"pod-a","ttl_ms":1}"#), 400, "invalid_field", field: "ttl_ms")
        expectProblem(call("POST", "/leader", #"{"lease":"l","holder":"pod-a","bogus":1}"#), 400, "invalid_field", field: "bogus")
        expectProblem(call("POST", "/leader", #"{"lease":"l","holder":"pod-a","on_backend_failure":"maybe"}"#), 400, "invalid_field",
                      field: "on_backend_failure")
        expectProblem(call("POST", "/lease/renew", #"{"lease":"l","holder":"pod-a","fencing_token":"x"}"#), 400, "invalid_field",
                      field: "fencing_token")
        expectProblem(call("GET", "/leader"), 400, "invalid_field", field: "lease")
        expectProblem(call("GET", "/leader", query: [("lease", "l"), ("holder", "a b")]), 400, "invalid_field", field: "holder")
        let (notJSON, p) = call("POST", "/leader", "{")
        #expect(notJSON.status == 400 && notJSON.header("content-type") == "application/problem+json" && p?["code"] != nil)
    }

    /// Blocking reads (`?index=N&wait=D`): a bad `index` or `wait` is a 400 naming it on every
    /// read that takes them, before anything is read or held.
    @Test func blockingReadBadIndexOrWaitNamesTheField() {
        let reads: [(String, [(String, String)])] = [("/leader", [("lease", "l")]), ("/leases", []), ("/tasks", [])]
        for (path, base) in reads {
            for bad in ["-1", "x", "1.5", "99999999999999999999", ""] {
                expectProblem(call("GET", path, query: base + [("index", bad)]), 400, "invalid_field", field: "index")
            }
            for bad in ["soon", "5h", "301s", "6m", "300001", "-5s", "1234567890ms", ""] {
                expectProblem(call("GET", path, query: base + [("index", "0"), ("wait", bad)]), 400, "invalid_field", field: "wait")
            }
            // The largest wait is accepted; without a change feed the read answers at once.
            let (ok, _) = call("GET", path, query: base + [("index", "0"), ("wait", "5m")])
            #expect(ok.status == 200 && ok.deferred == nil, "\(path): \(ok.status)")
        }
        expectProblem(call("GET", "/leader", query: [("lease", "l"), ("renewals", "yes")]), 400, "invalid_field", field: "renewals")
        #expect(BlockingRead.parseDuration("250ms") == 250 && BlockingRead.parseDuration("30s") == 30_000
                && BlockingRead.parseDuration("5m") == 300_000 && BlockingRead.parseDuration("42") == 42)
    }

    @Test func redisDownIsDegradedGrantOrA503WithRetryAfter() {
        store.failing = true
        let (granted, g) = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(granted.status == 200 && g?["mode"] == "degraded" && g?["fencing_token"] == .null)
        let denied = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-a","on_backend_failure":"deny"}"#)
        expectProblem(denied, 503, "backend_unavailable")
        #expect(denied.0.header("retry-after") == "2")
        expectProblem(call("GET", "/leader", query: [("lease", "scheduler")]), 503, "backend_unavailable")
        expectProblem(call("GET", "/tasks"), 503, "backend_unavailable")
    }

    @Test func recoveryWindowIsA409WithRetryAfter() {
        _ = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-a","ttl_ms":10000}"#)
        store.amnesia()
        let (r, v) = call("POST", "/leader", #"{"lease":"scheduler","holder":"pod-b","ttl_ms":10000}"#)
        #expect(r.status == 409 && v?["leader"] == false)
        #expect(r.header("retry-after") == "10")
    }

    // MARK: tasks

    @Test func taskClaimExtendCompleteAndList() {
        let (claimed, c) = call("POST", "/tasks/claim", #"{"task":"RefreshLibrary","holder":"pod-a","lock_at_most_ms":60000}"#)
        #expect(claimed.status == 200 && c?["claimed"] == true && c?["holder"] == "pod-a" && c?["lock_at_most_ms"] == 60_000)
        guard case .string(let runId) = c?["run_id"] else { Issue.record("no run id"); return }
        let (held, h) = call("POST", "/tasks/claim", #"{"task":"RefreshLibrary","holder":"pod-b"}"#)
        #expect(held.status == 409 && h?["claimed"] == false && h?["reason"] == "held")
        #expect(call("POST", "/tasks/extend", #"{"task":"RefreshLibrary","run_id":"\#(runId)","holder":"pod-a"}"#).0.status == 200)
        #expect(call("POST", "/tasks/extend", #"{"task":"RefreshLibrary","run_id":"\#(runId)","holder":"pod-b"}"#).0.status == 409)

        let (list, l) = call("GET", "/tasks")
        #expect(list.status == 200 && l?["history_available"] == true)
        guard case .array(let tasks) = l?["tasks"] else { Issue.record("no tasks array"); return }
        #expect(tasks.count == 1 && tasks.first?["task"] == "RefreshLibrary" && tasks.first?["claim"]?["run_id"] == .string(runId))

        let (done, d) = call("POST", "/tasks/complete", #"{"task":"RefreshLibrary","run_id":"\#(runId)","holder":"pod-a","status":"succeeded"}"#)
        #expect(done.status == 200 && d?["status"] == "succeeded" && d?["run_id"] == .string(runId) && d?["late"] == false)
    }

    @Test func taskBadInputNamesTheField() {
        expectProblem(call("POST", "/tasks/claim", #"{"holder":"pod-a"}"#), 400, "invalid_field", field: "task")
        expectProblem(call("POST", "/tasks/claim", #"{"task":"t","holder":"pod-a","lock_at_most_ms":1000,"lock_at_least_ms":2000}"#),
                      400, "invalid_field", field: "lock_at_least_ms")
        expectProblem(call("POST", "/tasks/extend", #"{"task":"t","holder":"pod-a"}"#), 400, "invalid_field", field: "run_id")
        expectProblem(call("POST", "/tasks/complete", #"{"task":"t","run_id":"5c1d0f3e-0000-4000-8000-000000000001","holder":"pod-a","status":"running"}"#),
                      400, "invalid_field", field: "status")
        let long = String(repeating: "x", count: Limits.detailBytes + 1)
        expectProblem(call("POST", "/tasks/complete",
                           #"{"task":"t","run_id":"5c1d0f3e-0000-4000-8000-000000000001","holder":"pod-a","status":"failed","detail":"\#(long)"}"#),
                      400, "invalid_field", field: "detail")
        expectProblem(call("GET", "/tasks/t/runs", query: [("limit", "0")]), 400, "invalid_field", field: "limit")
    }

    // MARK: history reads

    @Test func historyReadsAnd503WhenPostgreSQLIsDown() throws {
        let run = RunRecord(runId: "5c1d0f3e-0000-4000-8000-000000000001", task: TaskName("scan")!, slot: nil, holder: Holder("pod-a")!,
                            fencingToken: FencingToken(5), claimedAtMs: clock.wallMs(), mode: .normal)
        let tenure = TenureRecord(lease: LeaseName("scheduler")!, holder: Holder("pod-a")!, fencingToken: FencingToken(9),
                                  acquiredAtMs: clock.wallMs(), ttlMs: 30_000)
        try history.write([.run(run), .tenureStarted(tenure)])
        let (runs, r) = call("GET", "/tasks/scan/runs")
        #expect(runs.status == 200 && r?["task"] == "scan")
        guard case .array(let items) = r?["runs"] else { Issue.record("no runs array"); return }
        #expect(items.count == 1 && items.first?["run_id"] == .string(run.runId) && items.first?["status"] == "running")
        let (tenures, t) = call("GET", "/leases/scheduler/history")
        #expect(tenures.status == 200 && t?["lease"] == "scheduler")
        guard case .array(let ts) = t?["tenures"] else { Issue.record("no tenures array"); return }
        #expect(ts.count == 1 && ts.first?["fencing_token"] == 9)
        // /tasks shows the history-only task too.
        guard case .array(let listed) = call("GET", "/tasks").1?["tasks"] else { Issue.record("no tasks"); return }
        #expect(listed.first?["task"] == "scan" && listed.first?["claim"] == .null && listed.first?["last_run"]?["run_id"] == .string(run.runId))

        history.failing = true
        let down = call("GET", "/tasks/scan/runs")
        expectProblem(down, 503, "backend_unavailable")
        #expect(down.0.header("retry-after") == "4")
        expectProblem(call("GET", "/leases/scheduler/history"), 503, "backend_unavailable")
        // Without PostgreSQL the claims still show.
        let (list, l) = call("GET", "/tasks")
        #expect(list.status == 200 && l?["history_available"] == false)
    }

    /// GET /tasks merges Redis claims with PostgreSQL runs (TaskOverview, in the domain):
    /// sorted by name, history-only tasks without a claim, claimed tasks with their last run;
    /// while PostgreSQL fails, and while its breaker is open, the claims still show.
    @Test func taskListMergesClaimsWithHistoryAndSurvivesPostgreSQL() throws {
        let old = RunRecord(runId: "5c1d0f3e-0000-4000-8000-000000000002", task: TaskName("b-claimed")!, slot: nil, holder: Holder("pod-b")!,
                            fencingToken: FencingToken(2), claimedAtMs: clock.wallMs() - 1_000, mode: .normal)
        let only = RunRecord(runId: "5c1d0f3e-0000-4000-8000-000000000003", task: TaskName("a-history-only")!, slot: nil, holder: Holder("pod-a")!,
                             fencingToken: FencingToken(1), claimedAtMs: clock.wallMs() - 2_000, mode: .normal)
        try history.write([.run(old), .run(only)])
        let (claimed, c) = call("POST", "/tasks/claim", #"{"task":"b-claimed","holder":"pod-a"}"#)
        #expect(claimed.status == 200)
        guard case .string(let runId) = c?["run_id"] else { Issue.record("no run id"); return }
        _ = call("POST", "/tasks/claim", #"{"task":"c-redis-only","holder":"pod-a"}"#)

        func listed() -> [JSONValue] {
            guard case .array(let tasks) = call("GET", "/tasks").1?["tasks"] else { return [] }
            return tasks
        }
        let tasks = listed()
        #expect(tasks.map { $0["task"] } == ["a-history-only", "b-claimed", "c-redis-only"])
        #expect(tasks.count == 3 && tasks[0]["claim"] == .null && tasks[0]["last_run"]?["run_id"] == .string(only.runId))
        #expect(tasks.count == 3 && tasks[1]["claim"]?["run_id"] == .string(runId) && tasks[1]["last_run"] != .null)
        #expect(tasks.count == 3 && tasks[2]["claim"] != .null && tasks[2]["last_run"] == .null)

        history.failing = true
        let (failing, f) = call("GET", "/tasks")
        #expect(failing.status == 200 && f?["history_available"] == false)
        #expect(listed().map { $0["task"] } == ["b-claimed", "c-redis-only"])
        // Threshold 1: the failure opened the breaker; the next read is rejected without a try.
        #expect(services.postgresBreaker.snapshot().state == .open)
        history.failing = false
        let (open, o) = call("GET", "/tasks")
        #expect(open.status == 200 && o?["history_available"] == false)
        let rejected = call("GET", "/tasks/b-claimed/runs")
        expectProblem(rejected, 503, "backend_unavailable")
        #expect(rejected.0.header("retry-after") == "4")
        #expect(rejected.1?["detail"] == "PostgreSQL is unreachable (circuit breaker open); history is unavailable, coordination still works")
    }

    // MARK: sessions

    @Test func sessionValidation() {
        directory.owners.withLock {
            $0["good-token"] = TokenOwner(kind: .device, userId: "u1", userName: "alice", isAdmin: true, isDisabled: false, deviceId: "d1")
        }
        // Open endpoint: the Jellyfin token is the credential, not the bearer.
        let (ok, v) = call("POST", "/sessions/validate", #"{"token":"good-token"}"#, auth: false)
        #expect(ok.status == 200 && ok.header("x-baton-is-admin") == "true" && ok.header("x-baton-user-name") == "alice")
        #expect(ok.header("cache-control") == "no-store" && v?["valid"] == true)
        let byHeader = call("GET", "/sessions/validate", headers: ["x-emby-token": "good-token"], auth: false)
        #expect(byHeader.0.status == 200)
        let unknown = call("GET", "/sessions/validate", headers: ["x-emby-token": "nope"], auth: false)
        expectProblem(unknown, 401, "unknown_token")
        #expect(unknown.1?["valid"] == false && unknown.0.header("cache-control") == "no-store")
        expectProblem(call("GET", "/sessions/validate", auth: false), 401, "missing_token")
        expectProblem(call("POST", "/sessions/validate", #"{"token":"a\u0000b"}"#, auth: false), 400, "invalid_field", field: "token")
        directory.failing.withLock { $0 = true }
        let down = call("GET", "/sessions/validate", headers: ["x-emby-token": "other"], auth: false)
        expectProblem(down, 503, "backend_unavailable")
        #expect(down.0.header("retry-after") != nil)
    }

    // MARK: ops, auth, routing

    @Test func opsRoutes() {
        let (health, h) = call("GET", "/healthz", auth: false)
        #expect(health.status == 200 && h?["status"] == "ok")
        let (ready, r) = call("GET", "/readyz", auth: false)
        #expect(ready.status == 200 && r?["draining"] == false)
        let (status, s) = call("GET", "/status")
        #expect(status.status == 200 && s?["version"] == "test" && s?["auth"] == "required" && s?["backends"]?["redis"]?["breaker"] == "closed")
        let metrics = call("GET", "/metrics", auth: false).0
        #expect(metrics.status == 200 && metrics.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(String(decoding: metrics.body, as: UTF8.self).contains("baton_"))
        let spec = call("GET", "/openapi.yaml", auth: false).0
        #expect(spec.status == 200 && spec.header("content-type") == "application/yaml" && spec.body.starts(with: Array("openapi:".utf8)))
    }

    @Test func authAndRouting() {
        let missing = call("POST", "/leader", #"{"lease":"l","holder":"h"}"#, auth: false)
        expectProblem(missing, 401, "unauthorized")
        #expect(missing.0.header("www-authenticate") == #"Bearer realm="baton""#)
        expectProblem(call("GET", "/status", headers: ["authorization": "Bearer wrong"], auth: false), 401, "unauthorized")
        expectProblem(call("GET", "/nowhere"), 404, "not_found")
        let wrongMethod = call("DELETE", "/leader")
        expectProblem(wrongMethod, 405, "method_not_allowed")
        #expect(wrongMethod.0.header("allow")?.split(separator: ",").map { $0.trimmingPrefix(" ") }.sorted() == ["GET", "POST"])
        expectProblem(call("BREW", "/leader"), 405, "method_not_allowed")
        expectProblem(call("BREW", "/nowhere"), 501, "method_not_implemented")
    }
}
