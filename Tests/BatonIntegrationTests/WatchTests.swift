import BatonTestSupport
import Foundation
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
        let t = Date()
        let watchers = Thread.detachNewThreadWithResults(3) { _ -> HTTPClient.Response? in
            try? HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 90).get("/leader?lease=w3&index=\(i0)&wait=60s")
        }
        usleep(500_000)
        redis.kill()
        let answers = watchers.wait()
        let took = Date().timeIntervalSince(t)
        #expect(took < 5, "ended by the outage, not the 60 s wait: \(took) s")
        for r in answers {
            let r = try #require(r)
            #expect(r.header("x-baton-watch")?.hasPrefix("ended; reason=feed_lost") == true, "\(r) \(r.headers)")
            #expect(r.status == 503, "what a read answers while Redis is down: \(r)")
        }
        // While the feed is down a blocking read answers at once; once Redis is back it waits again.
        let down = try d.client().get("/leader?lease=w3&index=\(i0)&wait=10s")
        #expect(down.header("x-baton-watch")?.contains("feed_down") == true || down.status == 503, "\(down)")
        try redis.start()
        #expect(try eventually(10) {
            let c = d.client()
            guard let i = index(try c.get("/leader?lease=w3")) else { return false }
            return try c.get("/leader?lease=w3&index=\(i)&wait=300ms").header("x-baton-watch") == nil
        }, "the feed reconnects")
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
        usleep(2_000_000)
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
    private func sse(_ port: Int, _ query: String, lastEventId: String? = nil, seconds: Int) throws -> (Subprocess, String) {
        let out = NSTemporaryDirectory() + "sse-\(UUID().uuidString.prefix(8)).txt"
        var args = ["-sN", "--max-time", String(seconds), "-H", "Authorization: Bearer \(BatondProcess.token)"]
        if let lastEventId { args += ["-H", "Last-Event-ID: \(lastEventId)"] }
        args.append("http://127.0.0.1:\(port)/events?\(query)")
        return (try Subprocess.spawn("/usr/bin/curl", args, outputPath: out), out)
    }

    private func events(_ path: String) -> [(id: Int?, event: String, data: [String: Any])] {
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
        let (curl, out) = try sse(a.port, "lease=e1&task=t1", seconds: 4)
        usleep(600_000)
        #expect(try b.client().post("/leader", #"{"lease":"e1","holder":"pod-b","ttl_ms":1000}"#).status == 200)
        #expect(try b.client().post("/tasks/claim", #"{"task":"t1","holder":"pod-b","lock_at_most_ms":60000}"#).status == 200)
        #expect(try eventually(3) { events(out).contains { $0.event == "claimed" } })
        let changed = try #require(events(out).first { $0.event == "leader_changed" })
        #expect(changed.data["holder"] as? String == "pod-b" && changed.id != nil)
        let firstId = try #require(changed.id)

        // Resume after the first event: the rest is replayed, nothing before it.
        let (again, out2) = try sse(a.port, "lease=e1&task=t1", lastEventId: String(firstId), seconds: 1)
        again.wait()
        let replay = events(out2)
        #expect(!replay.isEmpty && replay.allSatisfy { ($0.id ?? 0) > firstId } && replay.contains { $0.event == "claimed" }, "\(replay.map(\.event))")
        // A third stream on a replica serving its limit (2) is refused. (The resumed stream's
        // curl has gone, but a suspended connection is noticed only at its next write.)
        let refused = try a.client().get("/events?lease=e1")
        #expect(refused.status == 503 && refused["code"] as? String == "too_many_watchers", "\(refused)")
        curl.wait()
        let names = events(out).map(\.event)
        #expect(names.prefix(2) == ["lease_vacant", "claim_ended"], "current state first: \(names)")
        #expect(names.last == "lease_vacant", "the 1 s lease expired: \(names)")
        // An id that replica never sent (ids are per process): said so, then the state.
        let (lost, out3) = try sse(b.port, "lease=e1", lastEventId: "999999", seconds: 1)
        lost.wait()
        #expect(events(out3).map(\.event) == ["events_lost", "lease_vacant"], "\(events(out3).map(\.event))")
        let bad = try a.client().get("/events?lease=bad%20name")
        #expect(bad.status == 400 && bad.isProblem)
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
