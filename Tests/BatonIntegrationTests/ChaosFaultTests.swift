import BatonTestSupport
import Foundation
import Testing

/// The fault matrix (issue 9): each backend failure under load, with the answers Baton
/// must give. Cases already covered elsewhere are not repeated here: the breaker opening
/// after exactly three failures and a SIGSTOPped Redis (LeaderHTTPTests), the session
/// endpoint with PostgreSQL down or slow (SessionHTTPTests), a PostgreSQL stop between
/// sequential claims and an idle SIGTERM flushing the outbox (HistoryDurabilityTests),
/// Redis that forgot its data (LeaderHTTPTests).
@Suite(.serialized) struct ChaosFaultTests {
    // MARK: Redis

    @Test func redisDownAtStartUp() throws {
        let port = TestEnvironment.freePort()  // nothing listens here yet
        let db = try PostgresDatabase(jellyfinTables: false)
        let batond = try BatondProcess(redisURL: "redis://127.0.0.1:\(port)/0", databaseURL: db.url)
        let c = batond.client()
        #expect(batond.log.contains("redis unavailable at start-up"))
        #expect(try c.get("/healthz", auth: false).status == 200)
        #expect(try c.get("/readyz", auth: false).status == 200, "degraded mode must stay reachable")
        let answers = try (0..<5).map { _ in try acquire(c, "pod-a") }
        #expect(answers.prefix(2).allSatisfy { $0.status == 503 && $0.header("retry-after") != nil }, "\(answers)")
        #expect(answers.dropFirst(2).allSatisfy { $0.status == 200 && $0["mode"] as? String == "degraded" && $0.json["fencing_token"] is NSNull })
        #expect(try c.get("/leader?lease=scheduler").status == 503, "reads have no fallback")
        #expect(try c.get("/status").status == 200)

        let redis = try OwnRedis(port: port)
        defer { _ = redis }
        #expect(try eventually(5) { try acquire(c, "pod-a")["mode"] as? String == "normal" }, "the probe closes the breaker once Redis is up")
        let state = try c.get("/leader?lease=scheduler")
        #expect(state.status == 200 && state["holder"] as? String == "pod-a")
        #expect(batond.isRunning)
    }

    @Test func redisKilledMidLoadAndRestartedWithItsAOF() throws {
        let redis = try RedisProcess(appendOnly: true)
        let s = try Stack(redis: redis)
        let load = Load(port: s.batond.port, threads: 8)
        load.start()
        usleep(1_500_000)
        s.redis.kill()
        usleep(2_500_000)  // long enough for the breaker to open
        try s.redis.start()
        usleep(3_000_000)  // cooldown, probe, then normal answers again
        let answers = load.stop()
        let problems = Load.problems(answers)
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        let statuses = Dictionary(grouping: answers.compactMap(\.status), by: { $0 }).mapValues(\.count)
        #expect(statuses[503, default: 0] > 0 && answers.contains { $0.mode == "degraded" }, "the outage was seen: \(statuses)")
        let tail = answers.filter { $0.sent > Date().addingTimeInterval(-1.0) }
        #expect(!tail.isEmpty && tail.allSatisfy { $0.mode != "degraded" && $0.status != 503 }, "normal service a few seconds after Redis came back")
        #expect(s.batond.isRunning)
        try expectNoLeakedConnections(redis: s.redis, threads: 4)
    }

    /// `DEBUG SLEEP 2` holds Redis past the 300 ms command timeout. Every request is answered
    /// within the timeout (503, then degraded once the breaker opens), and afterwards no
    /// worker reads a reply meant for a request that timed out: each answer is for its own lease.
    @Test func redisHangingPastTheCommandTimeout() throws {
        let redis = try OwnRedis()
        let db = try PostgresDatabase(jellyfinTables: false)
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: db.url, extra: ["BATON_REDIS_TIMEOUT_MS": "300"])
        let c = batond.client()
        for i in 0..<8 { #expect(try acquire(c, "pod-\(i)", lease: "hang-\(i)").status == 200) }
        let sleeper = try Subprocess.spawn(redis.cli, ["-p", String(redis.port), "DEBUG", "SLEEP", "2"])
        usleep(100_000)
        let start = Date()
        var during: [HTTPClient.Response] = []
        let port = batond.port
        during = try concurrently(8) { i in
            try HTTPClient(port: port, token: BatondProcess.token).post("/leader", #"{"lease":"hang-\#(i)","holder":"pod-\#(i)","ttl_ms":30000}"#)
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed < 1.5, "a hung Redis is a fast failure: \(elapsed) s")
        #expect(during.allSatisfy { $0.status == 503 || ($0.status == 200 && $0["mode"] as? String == "degraded") }, "\(during)")
        #expect(during.allSatisfy { $0.status != 503 || $0.header("retry-after") != nil })
        sleeper.wait()
        usleep(1_200_000)  // breaker cooldown
        // Workers whose command timed out must not read that command's late reply now.
        #expect(try eventually(5) { try acquire(c, "pod-0", lease: "hang-0")["mode"] as? String == "normal" })
        let clients = (0..<4).map { _ in batond.client() }
        for round in 0..<5 {
            for i in 0..<8 {
                let r = try acquire(clients[(i + round) % 4], "pod-\(i)", lease: "hang-\(i)")
                #expect(r.status == 200 && r["lease"] as? String == "hang-\(i)" && r["holder"] as? String == "pod-\(i)"
                        && r["mode"] as? String == "normal", "answer for the wrong request after the hang: \(r)")
            }
        }
        #expect(batond.isRunning)
    }

    // MARK: PostgreSQL

    /// PostgreSQL stopped under load, restarted, then made slow (a lock held on the history
    /// table): coordination answers stay fast and normal, history waits in the outbox, and in
    /// the end every run that was claimed is recorded once.
    @Test func postgresDownRestartedAndSlowUnderLoad() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess()
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: pg.url)
        // About 200 history rows a second: the outbox (10 000 rows) holds the whole outage.
        let load = Load(port: batond.port, threads: 6, tasksOnly: true, pauseMs: 30)
        load.start()
        usleep(1_000_000)
        try pg.stop()
        usleep(2_000_000)
        try pg.start()
        usleep(1_500_000)
        let locker = try Subprocess.spawn("/usr/bin/env", ["psql", "-X", "-q", pg.url, "-c",
                                                           "BEGIN; LOCK TABLE baton.task_runs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"])
        usleep(700_000)
        // A task never seen before: its first claim reads the fencing floor from history,
        // which waits at most BATON_PG_TIMEOUT_MS (1 s here) for the slow database.
        let firstStart = Date()
        let first = try batond.client().post("/tasks/claim", #"{"task":"never-seen-before","holder":"pod-x"}"#)
        let firstSeconds = Date().timeIntervalSince(firstStart)
        #expect(first.status == 200 && first["mode"] as? String == "normal", "\(first)")
        #expect(firstSeconds < 1.6, "first claim of a new task while PostgreSQL is slow took \(firstSeconds) s")
        usleep(2_800_000)
        locker.wait()
        let answers = load.stop()
        #expect(Load.problems(answers).isEmpty, "\(Load.problems(answers).prefix(10))")
        #expect(answers.allSatisfy { $0.status != 503 && $0.mode != "degraded" }, "coordination does not depend on PostgreSQL")
        let slowest = answers.max { $0.seconds < $1.seconds }
        // Nothing waits for the stopped or locked database (that would take 1 s, the statement
        // timeout, or 3 s, the lock); a loaded machine can still be slow now and then.
        #expect((slowest?.seconds ?? 0) < 1.5, "history is written in the background: slowest answer \(String(describing: slowest))")
        let c = batond.client()
        #expect(try eventually(20) { ((try c.get("/status").json["outbox"] as? [String: Any])?["pending"] as? Int) == 0 })
        var claimed = Set(answers.filter { $0.path == "/tasks/claim" && $0.status == 200 }.compactMap(\.runId))
        if let run = first["run_id"] as? String { claimed.insert(run) }
        let rows = try pg.sql("SELECT run_id FROM baton.task_runs").split(separator: "\n").map(String.init)
        #expect(Set(rows) == claimed && rows.count == claimed.count, "\(rows.count) rows for \(claimed.count) claims")
        let completed = answers.filter { $0.path == "/tasks/complete" && $0.status == 200 }.count
        #expect(try pg.sql("SELECT count(*) FROM baton.task_runs WHERE finished_at IS NOT NULL") == String(completed))
        #expect(((try c.get("/status").json["outbox"] as? [String: Any])?["dropped"] as? Int) == 0)
        let sessions = try Int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()")) ?? 99
        #expect(sessions <= 4 + 3, "PostgreSQL sessions after the churn: \(sessions)")
    }

    @Test func redisAndPostgresBothDown() throws {
        let pg = try PostgresServer()
        try pg.sql("CREATE DATABASE jf")
        let jf = "postgresql://postgres@127.0.0.1:\(pg.port)/jf"
        let load = try TestEnvironment.run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", jf,
                                                           "-f", TestEnvironment.root + "/Tests/Fixtures/jellyfin-schema.sql"])
        #expect(load.status == 0, "\(load.output)")
        let redis = try RedisProcess(appendOnly: true)
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: jf, extra: ["BATON_SESSION_CACHE_TTL_MS": "0"])
        let c = batond.client()
        #expect(try acquire(c, "pod-a", ttl: 1_000).status == 200)
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false).status == 401)
        redis.kill()
        try pg.stop()
        var degradedRuns: [String] = []
        for i in 0..<6 {
            let lease = try acquire(c, "pod-b")
            let claim = try c.post("/tasks/claim", #"{"task":"Both\#(i)","holder":"pod-b"}"#)
            #expect([200, 503].contains(lease.status) && [200, 503].contains(claim.status), "\(lease) \(claim)")
            if claim.status == 200 {
                #expect(claim["mode"] as? String == "degraded" && claim.json["fencing_token"] is NSNull)
                let run = try #require(claim["run_id"] as? String)
                degradedRuns.append(run)
                let done = try c.post("/tasks/complete", #"{"task":"Both\#(i)","run_id":"\#(run)","holder":"pod-b","status":"succeeded"}"#)
                #expect(done.status == 200 && done["mode"] as? String == "degraded")
            }
        }
        #expect(degradedRuns.count >= 3, "the breaker opened and granted")
        let session = try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false)
        #expect(session.status == 503 && session.header("retry-after") != nil, "a database outage is never a 401")
        #expect(try c.get("/tasks/Both0/runs").status == 503)
        #expect(try c.get("/healthz", auth: false).status == 200 && c.get("/readyz", auth: false).status == 200)
        let status = try c.get("/status")
        let backends = status.json["backends"] as? [String: Any]
        #expect((backends?["redis"] as? [String: Any])?["breaker"] as? String == "open")
        #expect((status.json["outbox"] as? [String: Any])?["pending"] as? Int ?? 0 >= degradedRuns.count)

        try redis.start()
        try pg.start()
        #expect(try eventually(10) { try acquire(c, "pod-b")["mode"] as? String == "normal" })
        #expect(try eventually(20) { ((try c.get("/status").json["outbox"] as? [String: Any])?["pending"] as? Int) == 0 })
        let modes = try pg.sql("SELECT count(*) FROM baton.task_runs WHERE mode = 'degraded' AND status = 'succeeded'", database: "jf")
        #expect(modes == String(degradedRuns.count), "degraded runs are recorded and marked")
        #expect(try eventually(5) { try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false).status == 401 })
    }

    // MARK: batond

    /// SIGTERM while 8 clients send claims and completions on keep-alive connections: every
    /// request gets a complete answer or a clean refusal (nothing half-done: no run is
    /// recorded whose claim went unanswered), every answered run is in PostgreSQL, exit 0.
    @Test func sigtermUnderLoadLosesNothingHalfDone() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess()
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: pg.url)
        let load = Load(port: batond.port, threads: 8, tasksOnly: true, uniqueTasks: true, stopOnRefusal: true)
        load.start()
        usleep(1_500_000)
        let start = Date()
        let status = batond.stop(signal: SIGTERM, timeout: 12)
        let answers = load.stop()
        #expect(status == 0, "\(batond.log.suffix(2000))")
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(Load.problems(answers).isEmpty, "\(Load.problems(answers).prefix(10))")
        let answered = Set(answers.filter { $0.path == "/tasks/claim" && $0.status == 200 }.compactMap(\.runId))
        let rows = try pg.sql("SELECT run_id::text, task FROM baton.task_runs").split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        let recorded = Set(rows.map { $0[0] })
        #expect(answered.isSubset(of: recorded), "answered claims missing from history: \(answered.subtracting(recorded).count)")
        let unanswered = recorded.subtracting(answered)
        #expect(unanswered.isEmpty, "runs recorded whose claim got no answer (half-done): \(unanswered)")
        let completed = Set(answers.filter { $0.path == "/tasks/complete" && $0.status == 200 }.compactMap(\.runId))
        let finished = Set(try pg.sql("SELECT run_id::text FROM baton.task_runs WHERE finished_at IS NOT NULL").split(separator: "\n").map(String.init))
        #expect(completed == finished, "completions answered \(completed.count), recorded \(finished.count)")
        let cut = answers.filter { $0.status == nil }
        #expect(cut.allSatisfy { $0.error.hasPrefix("refused") || $0.error.hasPrefix("closed") }, "\(cut.prefix(5).map(\.error))")
        #expect(answers.count > 50 && !cut.isEmpty, "the load ran into the shutdown: \(answers.count) requests, \(cut.count) refused")
        #expect(batond.log.contains("\"history_unwritten\":0"))
    }

    // MARK: Connections

    /// Requests from 16 connections while Redis is restarted three times and PostgreSQL once:
    /// afterwards Redis and PostgreSQL see no more than one connection per worker thread plus a few.
    @Test func backendConnectionsDoNotLeakUnderChurn() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess(appendOnly: true)
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: pg.url, extra: ["BATON_THREADS": "4"])
        let countPG = { try Int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()")) ?? 99 }
        let load = Load(port: batond.port, threads: 16)
        load.start()
        usleep(1_000_000)
        let before = (redis: redisClients(redis), pg: try countPG())
        for _ in 0..<3 {
            redis.kill()
            usleep(700_000)
            try redis.start()
            usleep(1_500_000)
        }
        try pg.stop()
        usleep(1_000_000)
        try pg.start()
        usleep(2_500_000)
        let answers = load.stop()
        #expect(Load.problems(answers).isEmpty, "\(Load.problems(answers).prefix(10))")
        let c = batond.client()
        #expect(try eventually(20) { ((try c.get("/status").json["outbox"] as? [String: Any])?["pending"] as? Int) == 0 })
        let after = (redis: redisClients(redis), pg: try countPG())
        #expect(after.redis <= 4 + 4, "Redis connections: \(before.redis) before the churn, \(after.redis) after (one per worker, the change feed, the watcher, a check, the pipeline)")
        #expect(after.pg <= 4 + 3, "PostgreSQL sessions: \(before.pg) before the churn, \(after.pg) after")
        #expect(batond.isRunning)
    }

    // MARK: Helpers

    func acquire(_ c: HTTPClient, _ holder: String, lease: String = "scheduler", ttl: Int = 30_000) throws -> HTTPClient.Response {
        try c.post("/leader", #"{"lease":"\#(lease)","holder":"\#(holder)","ttl_ms":\#(ttl)}"#)
    }

    func redisClients(_ redis: RedisProcess) -> Int {
        let list = (try? redis.cli("CLIENT", "LIST")) ?? ""
        return max(0, list.split(separator: "\n").count - 1)  // less redis-cli itself
    }

    func expectNoLeakedConnections(redis: RedisProcess, threads: Int) throws {
        let n = redisClients(redis)
        // One per worker, the change feed, the watcher's, another thread's check, and the
        // POST /leader pipeline (RedisPipeline).
        #expect(n <= threads + 4, "Redis connections: \(n) for \(threads) worker threads")
    }
}

/// A redis-server of the test's own on a given port, with the DEBUG command enabled
/// (Redis 7 disables it by default).
final class OwnRedis: @unchecked Sendable {
    let port: Int
    let process: Subprocess
    let cli = URL(fileURLWithPath: TestEnvironment.redisServer).deletingLastPathComponent().appendingPathComponent("redis-cli").path
    var url: String { "redis://127.0.0.1:\(port)/0" }

    init(port: Int = TestEnvironment.freePort()) throws {
        self.port = port
        process = try Subprocess.spawn(TestEnvironment.redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
                                                                     "--appendonly", "no", "--enable-debug-command", "local"])
        for _ in 0..<200 {
            if (try? TestEnvironment.run(cli, ["-p", String(port), "PING"]).output.contains("PONG")) == true { return }
            usleep(25_000)
        }
        throw TestSetupError("redis-server did not start on port \(port)")
    }

    deinit {
        process.signal(SIGKILL)
        process.wait()
    }
}

/// Concurrent clients sending leases and task claims in a loop, recording every answer.
final class Load: @unchecked Sendable {
    // @unchecked: `answers` and `running` are only touched under `lock`.
    struct Answer: Sendable {
        let path: String
        let status: Int?
        let retryAfter: String?
        let mode: String?
        let token: Int?
        let runId: String?
        let holder: String?
        let error: String
        let sent: Date
        let seconds: Double
    }

    let port: Int
    let threads: Int
    let tasksOnly: Bool
    let uniqueTasks: Bool
    let stopOnRefusal: Bool
    let pauseMs: Int
    private let lock = NSLock()
    private var answers: [Answer] = []
    private var running = true
    private let group = DispatchGroup()

    init(port: Int, threads: Int, tasksOnly: Bool = false, uniqueTasks: Bool = false, stopOnRefusal: Bool = false, pauseMs: Int = 0) {
        self.pauseMs = pauseMs
        self.port = port
        self.threads = threads
        self.tasksOnly = tasksOnly
        self.uniqueTasks = uniqueTasks
        self.stopOnRefusal = stopOnRefusal
    }

    var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    func start() {
        for t in 0..<threads {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                let c = HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 10)
                var i = 0
                while isRunning {
                    i += 1
                    if pauseMs > 0 { usleep(UInt32(pauseMs * 1000)) }
                    let holder = "pod-\(t)"
                    if !tasksOnly && i % 2 == 0 {
                        let a = send(c, "/leader", #"{"lease":"load-\#(t % 3)","holder":"\#(holder)","ttl_ms":2000}"#)
                        if stopOnRefusal && a.status == nil { return }
                        continue
                    }
                    let task = uniqueTasks ? "load-\(t)-\(i)" : "load-task-\(t % 4)"
                    let claim = send(c, "/tasks/claim", #"{"task":"\#(task)","holder":"\#(holder)","lock_at_most_ms":5000}"#)
                    if stopOnRefusal && claim.status == nil { return }
                    guard claim.status == 200, let run = claim.runId else { usleep(5_000); continue }
                    let done = send(c, "/tasks/complete", #"{"task":"\#(task)","run_id":"\#(run)","holder":"\#(holder)","status":"succeeded"}"#,
                                    runId: run)
                    if stopOnRefusal && done.status == nil { return }
                }
            }
        }
    }

    private func send(_ c: HTTPClient, _ path: String, _ body: String, runId: String? = nil) -> Answer {
        let sent = Date()
        let a: Answer
        do {
            let r = try c.post(path, body)
            a = Answer(path: path, status: r.status, retryAfter: r.header("retry-after"), mode: r["mode"] as? String,
                       token: r["fencing_token"] as? Int, runId: runId ?? r["run_id"] as? String, holder: r["holder"] as? String,
                       error: "", sent: sent, seconds: Date().timeIntervalSince(sent))
        } catch {
            let text = "\(error)"
            let kind = text.contains("errno 111") ? "refused" : (text.contains("closed") ? "closed" : "error")
            a = Answer(path: path, status: nil, retryAfter: nil, mode: nil, token: nil, runId: runId, holder: nil,
                       error: "\(kind): \(text)", sent: sent, seconds: Date().timeIntervalSince(sent))
        }
        lock.lock()
        answers.append(a)
        lock.unlock()
        return a
    }

    /// Stops the clients; returns every answer in the order sent.
    func stop() -> [Answer] {
        lock.lock()
        running = false
        lock.unlock()
        group.wait()
        lock.lock()
        defer { lock.unlock() }
        return answers.sorted { $0.sent < $1.sent }
    }

    /// What no answer may be: a 5xx other than 503, a 503 without Retry-After, a 200
    /// whose mode is unmarked, a degraded answer with a fencing token.
    static func problems(_ answers: [Answer]) -> [String] {
        var out: [String] = []
        for a in answers {
            guard let st = a.status else { continue }
            if ![200, 409, 503].contains(st) { out.append("\(a.path) answered \(st)") }
            if st == 503 && a.retryAfter == nil { out.append("\(a.path) 503 without Retry-After") }
            if st == 200 && a.path != "/tasks/complete" && a.mode != "normal" && a.mode != "degraded" { out.append("\(a.path) 200 with mode \(a.mode ?? "nil")") }
            if a.mode == "degraded" && a.token != nil { out.append("\(a.path) degraded answer with a fencing token") }
        }
        return out
    }
}
