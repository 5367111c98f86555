import BatonTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// Blocking reads (issue 18) against real redis-server and batond processes: a change made
/// through one replica wakes watchers on both, expiry wakes a watcher (with and without
/// keyspace events), a Redis restart ends waits, many watchers within the watch limit.
/// PostgreSQL is not needed (coordination works without it): batond gets a dead database URL.
@Suite(.serialized) struct WatchTests {
    static let noDatabase = "postgresql://127.0.0.1:9/none?connect_timeout=1"

    private func batond(_ redis: RedisProcess, _ extra: [String: String] = [:]) throws -> BatondProcess {
        try BatondProcess(redisURL: redis.url, databaseURL: Self.noDatabase, extra: extra)
    }

    private func index(_ r: HTTPClient.Response) -> Int? { r.header("x-baton-index").flatMap { Int($0) } }

    /// Waits until `batond` holds blocking reads (its feed is up and `count` are held).
    private func feedUp(_ c: HTTPClient, lease: String) throws -> Int {
        let first = try c.get("/leader?lease=\(lease)")
        let i = try #require(index(first), "GET /leader carries X-Baton-Index: \(first)")
        // A blocking read answers at once (X-Baton-Watch: unavailable) until the feed is up.
        #expect(try eventually(5) { try c.get("/leader?lease=\(lease)&index=\(i)&wait=100ms").header("x-baton-watch") == nil })
        return i
    }

    @Test func aChangeThroughOneReplicaWakesWatchersOnBoth() throws {
        let redis = try RedisProcess()
        let a = try batond(redis), b = try batond(redis)
        let i0 = try feedUp(a.client(), lease: "w1")
        _ = try feedUp(b.client(), lease: "w1")
        let ports = [a.port, b.port]
        let started = Date()
        let woken = Mutex<[Double]>([])
        let watchers = Thread.detachNewThreadWithResults(2) { k -> HTTPClient.Response? in
            let c = HTTPClient(port: ports[k], token: BatondProcess.token, timeoutSeconds: 30)
            let r = try? c.get("/leader?lease=w1&index=\(i0)&wait=20s")
            woken.withLock { $0.append(Date().timeIntervalSince(started)) }
            return r
        }
        usleep(700_000)
        #expect(woken.withLock { $0.isEmpty }, "both watchers are held while nothing changes")
        let changedAt = Date().timeIntervalSince(started)
        let acquired = try b.client().post("/leader", #"{"lease":"w1","holder":"pod-b","ttl_ms":30000}"#)
        #expect(acquired.status == 200)
        let answers = watchers.wait()
        for r in answers {
            let r = try #require(r)
            #expect(r.status == 200 && r["holder"] as? String == "pod-b", "\(r)")
            #expect((index(r) ?? 0) > i0 && r["index"] as? Int == index(r), "index in header and body: \(r)")
        }
        let times = woken.withLock { $0 }
        #expect(times.count == 2 && times.allSatisfy { $0 >= changedAt && $0 - changedAt < 2.0 }, "woken by the change, not the 20 s wait: \(times), change at \(changedAt)")
        // A renewal is not a change: a watcher at the new index stays held.
        let i1 = try #require(index(try a.client().get("/leader?lease=w1")))
        let c = HTTPClient(port: a.port, token: BatondProcess.token, timeoutSeconds: 30)
        let t = Date()
        _ = try b.client().post("/lease/renew", #"{"lease":"w1","holder":"pod-b","ttl_ms":30000}"#)
        let held = try c.get("/leader?lease=w1&index=\(i1)&wait=1500ms")
        #expect(held.status == 200 && index(held) == i1 && Date().timeIntervalSince(t) >= 1.4, "a renewal does not wake: \(held)")
        // Unless asked: with renewals=true the index counts them, and a renewal wakes.
        let r0 = try #require(index(try a.client().get("/leader?lease=w1&renewals=true")))
        let asked = Thread.detachNewThreadWithResults(1) { _ -> HTTPClient.Response? in
            try? HTTPClient(port: ports[0], token: BatondProcess.token, timeoutSeconds: 30).get("/leader?lease=w1&renewals=true&index=\(r0)&wait=10s")
        }
        usleep(500_000)
        let t2 = Date()
        _ = try b.client().post("/lease/renew", #"{"lease":"w1","holder":"pod-b","ttl_ms":30000}"#)
        let woke = try #require(asked.wait().first ?? nil)
        #expect(woke.status == 200 && index(woke) == r0 + 1 && Date().timeIntervalSince(t2) < 3, "a renewal wakes a renewals=true watcher: \(woke)")
    }

    @Test(arguments: [true, false]) func expiryWakesTheWatcher(keyspaceEvents: Bool) throws {
        let redis = try RedisProcess()
        if keyspaceEvents { try redis.cli("CONFIG", "SET", "notify-keyspace-events", "Ex") }
        let d = try batond(redis)
        let c = d.client()
        #expect(try c.post("/leader", #"{"lease":"w2","holder":"pod-a","ttl_ms":1500}"#).status == 200)
        let i0 = try feedUp(c, lease: "w2")
        #expect(d.log.contains(keyspaceEvents ? "through keyspace events" : "lacks Ex"), "says how expiry reaches watchers")
        let t = Date()
        let w = HTTPClient(port: d.port, token: BatondProcess.token, timeoutSeconds: 30)
        let r = try w.get("/leader?lease=w2&index=\(i0)&wait=20s")
        let took = Date().timeIntervalSince(t)
        #expect(r.status == 200 && r["holder"] is NSNull && (index(r) ?? 0) > i0, "\(r)")
        #expect(took < 4, "woken at expiry (1.5 s), not at the end of the wait: \(took) s")
    }

    @Test func aRedisRestartEndsWaits() throws {
        let redis = try RedisProcess()
        let d = try batond(redis)
        let i0 = try feedUp(d.client(), lease: "w3")
        let port = d.port
        let status = try d.client().get("/status")
        let watch = try #require(status["watch"] as? [String: Any], "\(status)")
        #expect(watch["feed"] as? String == "up" && watch["mode"] as? String == "normal" && watch["feed_losses"] as? Int == 0, "\(watch)")
        // An event stream through the outage: degraded, then recovering, then normal.
        let (sse, out) = try EventStreamTests.sse(port, "lease=w3", seconds: 40)
        let t = Date()
        let watchers = Thread.detachNewThreadWithResults(3) { _ -> HTTPClient.Response? in
            try? HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 90).get("/leader?lease=w3&index=\(i0)&wait=60s")
        }
        // All three held before Redis goes (a read that arrives during the outage answers
        // feed_down at once, not feed_lost).
        #expect(try eventually(10) { (try d.client().get("/status")["watch"] as? [String: Any])?["watchers"] as? Int == 3 })
        redis.kill()
        let answers = watchers.wait()
        let took = Date().timeIntervalSince(t)
        #expect(took < 5, "ended by the outage, not the 60 s wait: \(took) s")
        for r in answers {
            let r = try #require(r)
            #expect(r.header("x-baton-watch")?.hasPrefix("ended; reason=feed_lost") == true, "\(r) \(r.headers)")
            #expect(r.status == 503, "what a read answers while Redis is down: \(r)")
            // The body says it too, with the watch mode, for a script that reads only the body.
            let w = r["watch"] as? [String: Any]
            #expect(w?["ended"] as? String == "feed_lost" && w?["mode"] as? String == "degraded", "\(r)")
        }
        let during = try #require(try d.client().get("/status")["watch"] as? [String: Any])
        #expect(during["feed"] as? String == "down" && during["mode"] as? String == "degraded", "\(during)")
        let metrics = try d.client().get("/metrics", auth: false).text
        #expect(metrics.contains("baton_watch_feed_up 0") && metrics.contains("baton_watch_answers_total{reason=\"outage\"} 3"), "\(metrics.prefix(300))")
        // While the feed is down a blocking read answers at once; once Redis is back it waits again.
        let down = try d.client().get("/leader?lease=w3&index=\(i0)&wait=10s")
        #expect(down.header("x-baton-watch")?.contains("feed_down") == true || down.status == 503, "\(down)")
        try redis.start()
        #expect(try eventually(10) {
            let c = d.client()
            guard let i = index(try c.get("/leader?lease=w3")) else { return false }
            return try c.get("/leader?lease=w3&index=\(i)&wait=300ms").header("x-baton-watch") == nil
        }, "the feed reconnects")
        let after = try #require(try d.client().get("/status")["watch"] as? [String: Any])
        #expect(after["feed"] as? String == "up" && after["feed_losses"] as? Int == 1, "\(after)")
        func modes() -> [String] { EventStreamTests.events(out).filter { $0.event == "mode_changed" }.compactMap { $0.data["mode"] as? String } }
        _ = try eventually(5) { modes().last == "normal" }
        sse.signal(SIGTERM)
        _ = sse.wait()
        let modes = modes()
        #expect(modes == ["degraded", "recovering", "normal"], "\(modes)")
    }

    /// `GET /tasks/{task}/runs` blocks on the task's index and answers once the run is in
    /// PostgreSQL: a claim through the other replica wakes it with the run in the list.
    @Test func runsWaitUntilTheRunIsInHistory() throws {
        let redis = try RedisProcess()
        let database = try PostgresDatabase()
        let a = try BatondProcess(redisURL: redis.url, databaseURL: database.url)
        let b = try BatondProcess(redisURL: redis.url, databaseURL: database.url)
        let c = a.client()
        let first = try c.get("/tasks/w5/runs")
        let i0 = try #require(index(first), "\(first)")
        #expect(first.status == 200 && first["index"] as? Int == i0)
        #expect(try eventually(5) { try c.get("/tasks/w5/runs?index=\(i0)&wait=100ms").header("x-baton-watch") == nil })
        let port = a.port
        let t = Date()
        let watcher = Thread.detachNewThreadWithResults(1) { _ -> HTTPClient.Response? in
            try? HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 30).get("/tasks/w5/runs?index=\(i0)&wait=20s")
        }
        usleep(600_000)
        let claim = try b.client().post("/tasks/claim", #"{"task":"w5","holder":"pod-b","lock_at_most_ms":60000}"#)
        let runId = try #require(claim["run_id"] as? String, "\(claim)")
        let r = try #require(watcher.wait().first ?? nil)
        let runs = (r["runs"] as? [[String: Any]]) ?? []
        #expect(r.status == 200 && runs.first?["run_id"] as? String == runId && (index(r) ?? 0) > i0, "\(r)")
        #expect(Date().timeIntervalSince(t) < 5, "woken by the claim, not the 20 s wait")
    }

    /// 1,000 blocking reads held at once by one batond (default limits: 2,000 watchers, 4,096
    /// connections) on 1,000 connections from one polling thread: all held without a worker
    /// each (the server answers other requests meanwhile), all woken by one change.
    @Test func aThousandWatchers() throws {
        let redis = try RedisProcess()
        let d = try batond(redis)
        let i0 = try feedUp(d.client(), lease: "w6")
        let n = 1_000
        let request = Array("GET /leader?lease=w6&index=\(i0)&wait=60s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(BatondProcess.token)\r\n\r\n".utf8)
        let watchers = try PolledConnections(port: d.port, count: n)
        defer { watchers.close() }
        try watchers.sendAll(request)
        #expect(try eventually(20) { (try d.client().get("/status")["watch"] as? [String: Any])?["watchers"] as? Int == n },
                "all \(n) held")
        #expect(watchers.readResponses(withinMs: 300).isEmpty, "nobody answered before the change")
        let t = Date()
        #expect(try d.client().post("/leader", #"{"lease":"w6","holder":"pod-z"}"#).status == 200, "served while \(n) are held")
        let answers = watchers.readResponses(withinMs: 15_000)
        let took = Date().timeIntervalSince(t)
        #expect(answers.count == n && answers.allSatisfy { $0.hasPrefix("HTTP/1.1 200") && $0.contains("\"holder\":\"pod-z\"") },
                "\(answers.count) answered; statuses \(Dictionary(grouping: answers) { String($0.prefix(12)) }.mapValues(\.count))")
        #expect(took < 10, "change to the last of \(n) answers: \(took) s")
        #expect((try d.client().get("/status")["watch"] as? [String: Any])?["watchers"] as? Int == 0)
        #expect(d.isRunning)
    }

    @Test func manyWatchersWithinTheLimit() throws {
        let redis = try RedisProcess()
        let limit = 150, extra = 30
        let d = try batond(redis, ["BATON_WATCH_LIMIT": String(limit)])
        let i0 = try feedUp(d.client(), lease: "w4")
        let port = d.port
        let results = Thread.detachNewThreadWithResults(limit + extra) { _ -> HTTPClient.Response? in
            try? HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 60).get("/leader?lease=w4&index=\(i0)&wait=30s")
        }
        // Every request in before the change: `limit` held, the rest refused at once (one that
        // arrived after the change would be answered at once with the new state instead).
        #expect(try eventually(30) {
            (try d.client().get("/status")["watch"] as? [String: Any])?["watchers"] as? Int == limit && results.finished == extra
        }, "\(limit) held and \(extra) refused")
        let t = Date()
        #expect(try d.client().post("/leader", #"{"lease":"w4","holder":"pod-z"}"#).status == 200)
        let answers = results.wait().compactMap { $0 }
        #expect(answers.count == limit + extra)
        let woken = answers.filter { $0.status == 200 && $0["holder"] as? String == "pod-z" }
        let refused = answers.filter { $0.status == 503 && $0["code"] as? String == "too_many_watchers" }
        #expect(woken.count == limit && refused.count == extra, "\(Dictionary(grouping: answers, by: \.status).mapValues(\.count))")
        #expect(Date().timeIntervalSince(t) < 5)
        #expect(d.isRunning)
    }

    @Test func badWaitAndIndexAre400NamingTheField() throws {
        let redis = try RedisProcess()
        let d = try batond(redis)
        let c = d.client()
        for (query, field) in [("index=1&wait=abc", "wait"), ("index=1&wait=6m", "wait"), ("index=-1", "index"), ("index=x", "index")] {
            let r = try c.get("/leader?lease=w5&\(query)")
            #expect(r.status == 400 && r.isProblem && (r["detail"] as? String ?? "").contains(field) || r["field"] as? String == field, "\(query): \(r)")
        }
        let plain = try c.get("/leader?lease=w5&index=999&wait=10s")
        #expect(plain.status == 200 && index(plain) == 0, "an index that differs answers at once: \(plain)")
    }
}

/// batonctl on blocking reads: `leader watch` prints each change and runs --exec; `lock --wait`
/// starts as soon as the holder releases (polling would take up to 2 s).
@Suite(.serialized) struct BatonctlWatchTests {
    private func batonctl(_ d: BatondProcess, _ args: [String]) throws -> (Subprocess, String) {
        let out = NSTemporaryDirectory() + "batonctl-\(UUID().uuidString.prefix(8)).txt"
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BATON_") }
        env["BATON_URL"] = "http://127.0.0.1:\(d.port)"
        env["BATON_TOKEN"] = BatondProcess.token
        return (try Subprocess.spawn(TestEnvironment.batonctl, args, environment: env, outputPath: out), out)
    }

    private func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func leaderWatchAndLockWait() throws {
        let redis = try RedisProcess()
        let d = try BatondProcess(redisURL: redis.url, databaseURL: WatchTests.noDatabase)
        let c = d.client()
        #expect(try eventually(5) { d.log.contains("redis change feed up") })
        let (watch, out) = try batonctl(d, ["leader", "watch", "--lease", "w6", "--count", "3", "--exec", "echo hook:$BATON_HOLDER:$BATON_INDEX"])
        #expect(try eventually(5) { text(out).contains("hook::0") }, "the current state first: \(text(out))")
        #expect(try c.post("/leader", #"{"lease":"w6","holder":"pod-a"}"#).status == 200)
        #expect(try eventually(3) { text(out).contains("hook:pod-a:1") }, "\(text(out))")
        #expect(try c.post("/lease/release", #"{"lease":"w6","holder":"pod-a"}"#).status == 200)
        #expect(try eventually(3) { watch.poll() != nil }, "--count 3 ends the watch")
        #expect(text(out).contains("hook::2") && text(out).contains("w6 pod-a (token"), "\(text(out))")

        #expect(try c.post("/leader", #"{"lease":"w7","holder":"pod-a","ttl_ms":30000}"#).status == 200)
        let (lock, lockOut) = try batonctl(d, ["lock", "--lease", "w7", "--holder", "pod-b", "--wait", "--", "true"])
        #expect(try eventually(5) { text(lockOut).contains("waiting") }, "\(text(lockOut))")
        usleep(300_000)
        let released = Date()
        #expect(try c.post("/lease/release", #"{"lease":"w7","holder":"pod-a"}"#).status == 200)
        #expect(try eventually(5) { lock.poll() != nil })
        let took = Date().timeIntervalSince(released)
        #expect(took < 0.8, "lock --wait started \(took) s after the release: \(text(lockOut))")
        #expect(text(lockOut).contains("leader of w7 as pod-b"), "\(text(lockOut))")
    }
}

/// `GET /events` through curl (a real SSE client would do the same: a long GET, read as it comes).
@Suite(.serialized) struct EventStreamTests {
    static func sse(_ port: Int, _ query: String, lastEventId: String? = nil, seconds: Int) throws -> (Subprocess, String) {
        let out = NSTemporaryDirectory() + "sse-\(UUID().uuidString.prefix(8)).txt"
        var args = ["-sN", "--max-time", String(seconds), "-H", "Authorization: Bearer \(BatondProcess.token)"]
        if let lastEventId { args += ["-H", "Last-Event-ID: \(lastEventId)"] }
        args.append("http://127.0.0.1:\(port)/events?\(query)")
        return (try Subprocess.spawn("/usr/bin/curl", args, outputPath: out), out)
    }

    static func events(_ path: String) -> [(id: Int?, event: String, data: [String: Any])] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.components(separatedBy: "\n\n").compactMap { block in
            var id: Int?, event: String?, data: [String: Any] = [:]
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") {
                    data = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any] ?? [:]
                }
            }
            return event.map { (id, $0, data) }
        }
    }

    @Test func changesThroughTheOtherReplicaResumeAndLimit() throws {
        let redis = try RedisProcess()
        try redis.cli("CONFIG", "SET", "notify-keyspace-events", "Ex")
        let extra = ["BATON_EVENT_STREAM_LIMIT": "2"]
        let a = try BatondProcess(redisURL: redis.url, databaseURL: WatchTests.noDatabase, extra: extra)
        let b = try BatondProcess(redisURL: redis.url, databaseURL: WatchTests.noDatabase, extra: extra)
        #expect(try eventually(5) { a.log.contains("redis change feed up") })
        // Long enough for the 1 s lease to expire after the changes below, on a loaded machine.
        let (curl, out) = try Self.sse(a.port, "lease=e1&task=t1", seconds: 8)
        // The current state (sent without ids) must be in before the changes: a stream that
        // opened after them would show the lease's new holder as state, not as an event
        // (CI, 2026-12-02: `leader_changed` with no id after a 600 ms sleep).
        #expect(try eventually(5) { Self.events(out).count >= 2 }, "the current state first")
        #expect(try b.client().post("/leader", #"{"lease":"e1","holder":"pod-b","ttl_ms":1000}"#).status == 200)
        #expect(try b.client().post("/tasks/claim", #"{"task":"t1","holder":"pod-b","lock_at_most_ms":60000}"#).status == 200)
        #expect(try eventually(3) { Self.events(out).contains { $0.event == "claimed" } })
        let changed = try #require(Self.events(out).first { $0.event == "leader_changed" })
        #expect(changed.data["holder"] as? String == "pod-b" && changed.id != nil)
        let firstId = try #require(changed.id)

        // Resume after the first event: the rest is replayed, nothing before it.
        let (again, out2) = try Self.sse(a.port, "lease=e1&task=t1", lastEventId: String(firstId), seconds: 1)
        again.wait()
        let replay = Self.events(out2)
        #expect(!replay.isEmpty && replay.allSatisfy { ($0.id ?? 0) > firstId } && replay.contains { $0.event == "claimed" }, "\(replay.map(\.event))")
        // A third stream on a replica serving its limit (2) is refused. (The resumed stream's
        // curl has gone, but a suspended connection is noticed only at its next write.)
        let refused = try a.client().get("/events?lease=e1")
        #expect(refused.status == 503 && refused["code"] as? String == "too_many_watchers", "\(refused)")
        curl.wait()
        let names = Self.events(out).map(\.event)
        #expect(names.prefix(2) == ["lease_vacant", "claim_ended"], "current state first: \(names)")
        #expect(names.last == "lease_vacant", "the 1 s lease expired: \(names)")
        // An id that replica never sent (ids are per process): said so, then the state.
        let (lost, out3) = try Self.sse(b.port, "lease=e1", lastEventId: "999999", seconds: 1)
        lost.wait()
        #expect(Self.events(out3).map(\.event) == ["events_lost", "lease_vacant"], "\(Self.events(out3).map(\.event))")
        let bad = try a.client().get("/events?lease=bad%20name")
        #expect(bad.status == 400 && bad.isProblem)
    }
}

extension EventStreamTests {
    /// A run completed after its claim ended, through the other replica: `late_completion`
    /// on the stream watching the task (nothing changed in Redis, the script publishes it).
    @Test func aLateCompletionIsAnEvent() throws {
        let redis = try RedisProcess()
        let a = try BatondProcess(redisURL: redis.url, databaseURL: WatchTests.noDatabase)
        let b = try BatondProcess(redisURL: redis.url, databaseURL: WatchTests.noDatabase)
        #expect(try eventually(5) { a.log.contains("redis change feed up") })
        let claim = try b.client().post("/tasks/claim", #"{"task":"late1","holder":"pod-b","lock_at_most_ms":1000}"#)
        let runId = try #require(claim["run_id"] as? String, "\(claim)")
        usleep(1_300_000)
        let (curl, out) = try Self.sse(a.port, "task=late1", seconds: 6)
        #expect(try eventually(5) { !Self.events(out).isEmpty }, "the stream is open (its current state is in)")
        let done = try b.client().post("/tasks/complete", #"{"task":"late1","run_id":"\#(runId)","holder":"pod-b","status":"failed"}"#)
        #expect(done.status == 409 && done["late"] as? Bool == true, "\(done)")
        _ = curl.wait()
        let late = Self.events(out).first { $0.event == "late_completion" }
        #expect(late?.data["run_id"] as? String == runId && late?.data["status"] as? String == "failed" && late?.id != nil,
                "\(Self.events(out).map(\.event))")
    }
}

extension Thread {
    /// Runs `body(k)` for k in 0..<n, each on its own thread; `wait()` gives the results in order.
    static func detachNewThreadWithResults<T: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) -> T) -> ThreadResults<T> {
        let results = ThreadResults<T>(n)
        for k in 0..<n {
            let t = Thread { results.set(k, body(k)) }
            t.stackSize = 256 * 1024
            t.start()
        }
        return results
    }
}

final class ThreadResults<T: Sendable>: Sendable {
    private let items: Mutex<[T?]>
    private let n: Int
    init(_ n: Int) {
        self.n = n
        items = Mutex(Array(repeating: nil, count: n))
    }
    func set(_ k: Int, _ v: T) { items.withLock { $0[k] = v } }
    /// How many threads have set their result so far.
    var finished: Int { items.withLock { $0.count { $0 != nil } } }
    /// Waits (at most 120 s) until every thread has set its result.
    func wait() -> [T] {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let all = items.withLock({ $0.allSatisfy { $0 != nil } ? $0.map { $0! } : nil }) { return all }
            usleep(20_000)
        }
        return items.withLock { $0.compactMap { $0 } }
    }
}

/// Many client connections served by one thread with poll(2), for watcher counts that would
/// need a thread each otherwise. Each connection gets one request and one answer (headers
/// and a Content-Length body).
final class PolledConnections {
    private var fds: [Int32] = []
    private var buffers: [[UInt8]]
    private var done: [Bool]

    init(port: Int, count: Int) throws {
        buffers = Array(repeating: [], count: count)
        done = Array(repeating: false, count: count)
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { close(); throw TestSetupError("socket: errno \(errno)") }
            fds.append(fd)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else { close(); throw TestSetupError("connect: errno \(errno)") }
        }
    }

    func sendAll(_ bytes: [UInt8]) throws {
        for fd in fds {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n == bytes.count else { throw TestSetupError("send: errno \(errno)") }
        }
    }

    /// The answers completed within `ms` (each connection's first answer, as text), at most one per connection.
    func readResponses(withinMs ms: Int) -> [String] {
        let deadline = Date().addingTimeInterval(Double(ms) / 1_000)
        var answers: [String] = []
        let slot = Dictionary(uniqueKeysWithValues: fds.enumerated().map { ($0.element, $0.offset) })
        while Date() < deadline && done.contains(false) {
            var pfds = fds.enumerated().filter { !done[$0.offset] }.map { pollfd(fd: $0.element, events: Int16(POLLIN), revents: 0) }
            let left = Int32(max(1, deadline.timeIntervalSinceNow * 1_000))
            guard poll(&pfds, nfds_t(pfds.count), min(left, 200)) > 0 else { continue }
            for p in pfds where p.revents != 0 {
                guard let i = slot[p.fd] else { continue }
                var chunk = [UInt8](repeating: 0, count: 8_192)
                let n = recv(p.fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
                if n <= 0 { done[i] = true; continue }
                buffers[i] += chunk[0..<n]
                if let text = Self.complete(buffers[i]) {
                    done[i] = true
                    answers.append(text)
                }
            }
        }
        return answers
    }

    private static func complete(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound].lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length ? text : nil
    }

    func close() {
        for fd in fds { Glibc.close(fd) }
        fds = []
    }
}
