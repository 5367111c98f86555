import BatonTestSupport
import Foundation
import Testing

/// Leader election through the real batond binary, real Redis and PostgreSQL.
@Suite(.serialized) struct LeaderHTTPTests {
    func acquire(_ c: HTTPClient, _ holder: String, lease: String = "scheduler", ttl: Int = 30_000, extra: String = "") throws -> HTTPClient.Response {
        try c.post("/leader", #"{"lease":"\#(lease)","holder":"\#(holder)","ttl_ms":\#(ttl)\#(extra)}"#)
    }

    @Test func twoHoldersRaceAndExactlyOneWins() throws {
        let s = try Stack()
        let port = s.batond.port
        let answers = try concurrently(8) { i in
            try HTTPClient(port: port, token: BatondProcess.token).post("/leader", #"{"lease":"race","holder":"pod-\#(i)"}"#)
        }
        let winners = answers.filter { $0.status == 200 }
        #expect(winners.count == 1)
        #expect(answers.filter { $0.status == 409 }.count == 7)
        let winner = try #require(winners.first?["holder"] as? String)
        #expect(winners.first?["acquired"] as? Bool == true && (winners.first?["fencing_token"] as? Int ?? 0) > 0)
        for loser in answers where loser.status == 409 {
            #expect(loser["holder"] as? String == winner && loser["leader"] as? Bool == false)
        }
        let state = try s.client.get("/leader?lease=race")
        #expect(state.status == 200 && state["holder"] as? String == winner)
    }

    /// POST /leader goes through the Redis pipeline (by default, while other requests are
    /// in flight: a blocking read is held here) and is answered later, from its reader
    /// thread: the metrics still count each request under the status it got, and the same
    /// answers come back with the pipeline off.
    @Test(arguments: ["on", "off"]) func answersAndMetricsWithThePipelineOnAndOff(_ pipeline: String) throws {
        let s = try Stack(extra: ["BATON_REDIS_PIPELINE": pipeline])
        let port = s.batond.port
        let watching = Thread { _ = try? HTTPClient(port: port, token: BatondProcess.token).get("/leader?lease=elsewhere&index=0&wait=6s") }
        watching.start()
        #expect(try eventually(5) { (try s.client.get("/status").json["watch"] as? [String: Any])?["watchers"] as? Int == 1 })
        #expect(try acquire(s.client, "pod-a").status == 200)
        #expect(try acquire(s.client, "pod-a").status == 200)
        let refused = try acquire(s.client, "pod-b")
        #expect(refused.status == 409 && refused["holder"] as? String == "pod-a")
        #expect(try acquire(s.client, "pod-b", extra: #","ttl_ms":5"#).status == 400)
        let metrics = try s.client.get("/metrics").text
        #expect(metrics.contains(#"baton_http_requests_total{route="/leader",method="POST",status="200"} 2"#), "\(metrics)")
        #expect(metrics.contains(#"baton_http_requests_total{route="/leader",method="POST",status="409"} 1"#))
        #expect(metrics.contains(#"baton_http_requests_total{route="/leader",method="POST",status="400"} 1"#))
        // With the pipeline on, the three acquires that reached Redis went through it (the
        // watch keeps another request in flight); off, the counter is not there at all.
        let pipelined = metrics.split(separator: "\n").first { $0.hasPrefix("baton_redis_pipelined_commands_total ") }
            .flatMap { Int($0.split(separator: " ")[1]) }
        if pipeline == "on" {
            #expect((pipelined ?? 0) >= 3, "\(metrics)")
        } else {
            #expect(pipelined == nil, "\(metrics)")
        }
    }

    @Test func renewByANonHolderIsRefusedAndNeverReacquires() throws {
        let s = try Stack()
        let mine = try acquire(s.client, "pod-a")
        let token = try #require(mine["fencing_token"] as? Int)
        let stolen = try s.client.post("/lease/renew", #"{"lease":"scheduler","holder":"pod-b"}"#)
        #expect(stolen.status == 409 && stolen["holder"] as? String == "pod-a" && stolen["leader"] as? Bool == false)
        let vacant = try s.client.post("/lease/renew", #"{"lease":"nobody-holds-this","holder":"pod-b"}"#)
        #expect(vacant.status == 409 && vacant.json["holder"] is NSNull)
        #expect(try s.client.get("/leader?lease=nobody-holds-this").json["holder"] is NSNull)
        let own = try s.client.post("/lease/renew", #"{"lease":"scheduler","holder":"pod-a","ttl_ms":5000,"fencing_token":\#(token)}"#)
        #expect(own.status == 200 && own["leader"] as? Bool == true && own["ttl_ms"] as? Int == 5_000)
        let stale = try s.client.post("/lease/renew", #"{"lease":"scheduler","holder":"pod-a","fencing_token":\#(token - 1)}"#)
        #expect(stale.status == 409 && stale["leader"] as? Bool == false, "another tenure, even under the same name: \(stale)")
    }

    @Test func expiryHandsTheLeaseOverWithALargerFencingToken() throws {
        let s = try Stack()
        let first = try acquire(s.client, "pod-a", ttl: 1_000)
        let token = try #require(first["fencing_token"] as? Int)
        #expect(first.status == 200)
        #expect(try acquire(s.client, "pod-b", ttl: 1_000).status == 409)
        usleep(1_150_000)
        let second = try acquire(s.client, "pod-b", ttl: 1_000)
        #expect(second.status == 200 && second["acquired"] as? Bool == true)
        #expect(second["fencing_token"] as? Int == token + 1)
        #expect(try s.client.post("/lease/renew", #"{"lease":"scheduler","holder":"pod-a"}"#).status == 409)
    }

    @Test func releaseLetsAnotherHolderAcquireAtOnce() throws {
        let s = try Stack()
        let a = try acquire(s.client, "pod-a")
        #expect(a.status == 200)
        let wrong = try s.client.post("/lease/release", #"{"lease":"scheduler","holder":"pod-b"}"#)
        #expect(wrong.status == 409 && wrong["released"] as? Bool == false)
        let released = try s.client.post("/lease/release", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(released.status == 200 && released["released"] as? Bool == true)
        let again = try s.client.post("/lease/release", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(again.status == 200 && again["released"] as? Bool == false)
        let b = try acquire(s.client, "pod-b")
        #expect(b.status == 200 && b["fencing_token"] as? Int == (a["fencing_token"] as? Int).map { $0 + 1 })
        let all = try s.client.get("/leases")
        let leases = try #require(all.json["leases"] as? [[String: Any]])
        #expect(leases.count == 1 && leases.first?["holder"] as? String == "pod-b")
    }

    @Test func breakerOpensAfterExactlyThreeFailuresGrantsThenClosesWhenRedisReturns() throws {
        let s = try Stack(extra: ["BATON_BREAKER_COOLDOWN_MS": "1000"])
        let before = try acquire(s.client, "pod-a", ttl: 1_000)
        #expect(before.status == 200)
        s.redis.kill()
        for n in 1...2 {
            let r = try acquire(s.client, "pod-a")
            #expect(r.status == 503, "failure \(n) should be 503 while the breaker is closed")
            #expect(r.header("retry-after") != nil && r.isProblem)
        }
        let third = try acquire(s.client, "pod-a")
        #expect(third.status == 200 && third["mode"] as? String == "degraded" && third.json["fencing_token"] is NSNull)
        #expect(third["leader"] as? Bool == true)
        let other = try acquire(s.client, "pod-b")
        #expect(other.status == 200 && other["mode"] as? String == "degraded" && other["holder"] as? String == "pod-b")
        let denied = try acquire(s.client, "pod-b", extra: #","on_backend_failure":"deny""#)
        #expect(denied.status == 503)
        let status = try s.client.get("/status")
        let redis = (status.json["backends"] as? [String: Any])?["redis"] as? [String: Any]
        #expect(redis?["breaker"] as? String == "open" && redis?["total_failures"] as? Int == 3)
        #expect(try s.client.get("/readyz", auth: false).status == 200)  // degraded mode stays reachable

        try s.redis.start()  // empty: the restarted Redis has no data
        usleep(1_100_000)    // cooldown, then one probe closes the breaker
        // The probe reaches a new server: pod-a's tenure is in the history, and a holder
        // renewing until the crash may believe it for one more TTL from now.
        let probe = try acquire(s.client, "pod-b")
        #expect(probe.status == 409 && probe["reason"] as? String == "recovering" && probe.header("retry-after") == "1", "\(probe)")
        usleep(1_050_000)
        let back = try acquire(s.client, "pod-b")
        #expect(back.status == 200 && back["mode"] as? String == "normal", "\(back)")
        #expect((back["fencing_token"] as? Int ?? 0) > before["fencing_token"] as? Int ?? .max,
                "fencing tokens never go backwards after Redis forgot them")
        let closed = (try s.client.get("/status").json["backends"] as? [String: Any])?["redis"] as? [String: Any]
        #expect(closed?["breaker"] as? String == "closed")
        let metrics = try s.client.get("/metrics", auth: false).text
        #expect(metrics.contains(#"baton_degraded_grants_total{kind="lease"} 2"#))
        #expect(metrics.contains(#"baton_breaker_opened_total{backend="redis"} 1"#))
        #expect(metrics.contains(#"baton_lease_acquisitions_total{lease="scheduler"}"#))
    }

    @Test func redisThatForgotItsDataGetsARecoveryWindow() throws {
        let s = try Stack()
        let first = try acquire(s.client, "pod-a", ttl: 2_000)
        let token = try #require(first["fencing_token"] as? Int)
        let claim = try s.client.post("/tasks/claim", #"{"task":"Scan","holder":"pod-a","lock_at_most_ms":2000}"#)
        let claimToken = try #require(claim["fencing_token"] as? Int)
        try s.redis.restart()  // no persistence: leases, claims and counters are gone
        let refused = try acquire(s.client, "pod-b", ttl: 2_000)
        #expect(refused.status == 409 && refused["reason"] as? String == "recovering" && refused.json["holder"] is NSNull, "\(refused)")
        let retry = Int(refused.header("retry-after") ?? "") ?? 0
        #expect(retry >= 1 && retry <= 2)
        let renew = try s.client.post("/lease/renew", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(renew.status == 409, "the old holder learns it lost the lease")
        let task = try s.client.post("/tasks/claim", #"{"task":"Scan","holder":"pod-b"}"#)
        #expect(task.status == 409 && task["reason"] as? String == "recovering" && task.header("retry-after") != nil)
        usleep(2_100_000)
        let after = try acquire(s.client, "pod-b", ttl: 2_000)
        #expect(after.status == 200 && (after["fencing_token"] as? Int ?? 0) > token, "tokens continue above the floor: \(after)")
        let taskAfter = try s.client.post("/tasks/claim", #"{"task":"Scan","holder":"pod-b"}"#)
        #expect(taskAfter.status == 200 && (taskAfter["fencing_token"] as? Int ?? 0) > claimToken)
        #expect(try s.client.get("/metrics", auth: false).text.contains(#"baton_recovery_refusals_total{kind="lease"} 1"#))
    }

    /// A Redis that comes back with its data (or a promoted replica) may still have missed
    /// the last acknowledged writes: its tenures are void and new ones wait, as after amnesia.
    @Test func aRedisRestartedWithItsDataIsTreatedAsPossiblyBehind() throws {
        let s = try Stack()
        let first = try acquire(s.client, "pod-a", ttl: 2_000)
        let token = try #require(first["fencing_token"] as? Int)
        try s.redis.restartKeepingData()
        let refused = try acquire(s.client, "pod-b", ttl: 2_000)
        #expect(refused.status == 409 && refused["reason"] as? String == "recovering", "\(refused)")
        let stale = try acquire(s.client, "pod-a", ttl: 2_000)
        #expect(stale.status == 409 && stale["leader"] as? Bool == false, "the earlier server's tenure came back: \(stale)")
        #expect(try s.client.get("/leader?lease=scheduler").json["holder"] is NSNull)
        usleep(2_100_000)
        let after = try acquire(s.client, "pod-b", ttl: 2_000)
        #expect(after.status == 200 && (after["fencing_token"] as? Int ?? 0) > token, "\(after)")
        #expect(try s.client.get("/metrics", auth: false).text.contains("baton_redis_server_changes_total 1"))
        #expect(s.batond.log.contains("redis server changed"))
    }

    @Test func aRestartedBatonTakesTheFloorFromHistory() throws {
        let db = try PostgresDatabase(jellyfinTables: false)
        let redis = try RedisProcess()
        var s: Stack? = try Stack(redis: redis, database: db)
        var last = 0
        for holder in ["pod-a", "pod-b", "pod-c"] {
            let r = try acquire(s!.client, holder, ttl: 1_000)
            #expect(r.status == 200)
            last = r["fencing_token"] as? Int ?? 0
            _ = try s!.client.post("/lease/release", #"{"lease":"scheduler","holder":"\#(holder)"}"#)
        }
        #expect(try eventually { try db.sql("SELECT max(fencing_token) FROM baton.lease_tenures") == String(last) })
        s = nil  // batond gone too
        try redis.restart()
        let fresh = try Stack(redis: redis, database: db)
        let r = try acquire(fresh.client, "pod-d", ttl: 1_000)
        #expect(r.status == 200 && (r["fencing_token"] as? Int ?? 0) > last, "\(r)")
    }

    @Test func denyPolicyAnswers503WhileOpen() throws {
        let s = try Stack(extra: ["BATON_ON_REDIS_FAILURE": "deny"])
        s.redis.kill()
        for _ in 1...4 { #expect(try acquire(s.client, "pod-a").status == 503) }
        let granted = try acquire(s.client, "pod-a", extra: #","on_backend_failure":"grant""#)
        #expect(granted.status == 200 && granted["mode"] as? String == "degraded")
    }

    @Test func aHungRedisFailsFastInsteadOfHangingWorkers() throws {
        let s = try Stack()
        #expect(try acquire(s.client, "pod-a").status == 200)
        s.redis.pause()
        defer { s.redis.resume() }
        let start = Date()
        let r = try acquire(s.client, "pod-a")
        #expect(r.status == 503)
        #expect(Date().timeIntervalSince(start) < 1.5, "the 300 ms command timeout should bound the wait")
    }

    @Test func badInputGetsProblemJSONNamingTheField() throws {
        let s = try Stack()
        let cases: [(String, String, String?)] = [
            (#"{"lease":"a","holder":"b","ttl":5}"#, "invalid_field", "ttl"),
            (#"{"holder":"b"}"#, "invalid_field", "lease"),
            (#"{"lease":"bad name","holder":"b"}"#, "invalid_field", "lease"),
            (#"{"lease":"a","holder":""}"#, "invalid_field", "holder"),
            (#"{"lease":"a","holder":"b","ttl_ms":999}"#, "invalid_field", "ttl_ms"),
            (#"{"lease":"a","holder":"b","ttl_ms":86400001}"#, "invalid_field", "ttl_ms"),
            (#"{"lease":"a","holder":"b","ttl_ms":"30000"}"#, "invalid_field", "ttl_ms"),
            (#"{"lease":"a","holder":"b","on_backend_failure":"maybe"}"#, "invalid_field", "on_backend_failure"),
            (#"{"lease":["a"],"holder":"b"}"#, "invalid_field", "lease"),
            (#"{"lease":"a","holder":"b""#, "invalid_json", nil),
            ("[]", "invalid_json", nil),
            ("", "invalid_json", nil),
        ]
        for (body, code, field) in cases {
            let r = try s.client.post("/leader", body)
            #expect(r.status == 400 && r.isProblem, "\(body) -> \(r)")
            #expect(r["code"] as? String == code, "\(body) -> \(r)")
            #expect(r["field"] as? String == field, "\(body) -> \(r)")
            #expect(r["status"] as? Int == 400 && r["title"] is String && r["type"] is String)
        }
        let missingQuery = try s.client.get("/leader")
        #expect(missingQuery.status == 400 && missingQuery["field"] as? String == "lease")
        let badLimit = try s.client.get("/leases/scheduler/history?limit=0")
        #expect(badLimit.status == 400 && badLimit["field"] as? String == "limit")
    }

    @Test func oversizedBodiesUnknownPathsAndWrongMethods() throws {
        let s = try Stack()
        let big = #"{"lease":"a","holder":"b","pad":""# + String(repeating: "x", count: 70_000) + #""}"#
        let tooLarge = try s.client.post("/leader", big)
        #expect(tooLarge.status == 413 && tooLarge.isProblem && tooLarge["code"] as? String == "body_too_large")
        // Chunked, no Content-Length: refused once it grows past the limit.
        var chunked = Array("POST /leader HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(BatondProcess.token)\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for _ in 0..<20 { chunked += Array("1000\r\n".utf8) + Array(repeating: UInt8(ascii: " "), count: 4096) + Array("\r\n".utf8) }
        chunked += Array("0\r\n\r\n".utf8)
        let chunkedAnswer = try s.batond.client().raw(chunked)
        #expect(chunkedAnswer.status == 413 && chunkedAnswer.isProblem)
        let fresh = s.batond.client()
        let notFound = try fresh.get("/nope")
        #expect(notFound.status == 404 && notFound.isProblem)
        let wrong = try fresh.request("DELETE", "/leader")
        #expect(wrong.status == 405 && wrong.isProblem)
        #expect(wrong.header("allow")?.contains("POST") == true && wrong.header("allow")?.contains("GET") == true)
        // An unauthenticated 404 and 405 reveal nothing but the route table.
        #expect(try fresh.get("/nope", auth: false).status == 404)
    }

    @Test func bearerTokenIsRequiredExceptOnOpenEndpoints() throws {
        let s = try Stack()
        let body = #"{"lease":"a","holder":"b"}"#
        let none = try s.client.post("/leader", body, auth: false)
        #expect(none.status == 401 && none.isProblem && none.header("www-authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try s.client.post("/leader", body, headers: ["Authorization": "Bearer not-the-token-at-all"], auth: false)
        #expect(wrong.status == 401)
        let almost = String(BatondProcess.token.dropLast()) + "X"
        #expect(try s.client.post("/leader", body, headers: ["Authorization": "Bearer \(almost)"], auth: false).status == 401)
        #expect(try s.client.post("/leader", body, headers: ["Authorization": "Basic \(BatondProcess.token)"], auth: false).status == 401)
        #expect(try s.client.get("/status", auth: false).status == 401)
        #expect(try s.client.get("/leases", auth: false).status == 401)
        for open in ["/healthz", "/readyz", "/metrics", "/openapi.yaml"] {
            #expect(try s.client.get(open, auth: false).status == 200, "\(open) should be open")
        }
        #expect(try s.client.post("/leader", body).status == 200)
        #expect(!s.batond.log.contains(BatondProcess.token), "the API token must never be logged")
    }

    @Test func keepAliveStaysAliveAndRequestIdsAreEchoed() throws {
        let s = try Stack()
        let c = s.batond.client()
        for i in 0..<20 {
            let r = try c.post("/leader", #"{"lease":"ka","holder":"pod-a"}"#, headers: ["X-Request-Id": "req-\(i)"])
            #expect(r.status == 200 && r.header("x-request-id") == "req-\(i)")
            #expect(r.header("connection")?.lowercased() != "close")
        }
        #expect(!c.serverClosed(withinMs: 200), "the server closed a keep-alive connection")
        let generated = try c.get("/healthz", headers: ["X-Request-Id": "bad id with spaces"])
        let id = try #require(generated.header("x-request-id"))
        #expect(id != "bad id with spaces" && id.count == 16)
        let log = s.batond.log
        #expect(log.contains(#""request_id":"req-3""#) && log.contains(#""path":"/leader""#) && log.contains(#""status":200"#))
        // A generated id is spelled on the stack for the header and as a String for the log: the same.
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(log.contains(#""request_id":"\#(id)""#))
    }

    @Test func sigtermStopsGracefullyWithExitZero() throws {
        let s = try Stack()
        #expect(try acquire(s.client, "pod-a").status == 200)
        let start = Date()
        let status = s.batond.stop(signal: SIGTERM, timeout: 12)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(s.batond.log.contains("shutting down"))
    }

    @Test func evictingRedisPolicyIsWarnedAndShownInStatus() throws {
        let redis = try RedisProcess()
        try redis.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        let s = try Stack(redis: redis)
        let status = try s.client.get("/status")
        let backends = status.json["backends"] as? [String: Any]
        #expect((backends?["redis"] as? [String: Any])?["maxmemory_policy"] as? String == "allkeys-lru")
        let warnings = status.json["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("allkeys-lru") })
        #expect(s.batond.log.contains("maxmemory-policy"))
    }
}

/// Start-up configuration: bad values stop batond with a message naming the variable.
@Suite struct ConfigurationTests {
    func start(_ env: [String: String]) throws -> (Int32, String) {
        var e = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BATON_") }
        e["BATON_LISTEN"] = "127.0.0.1:\(TestEnvironment.freePort())"
        for (k, v) in env { e[k] = v }
        let r = try TestEnvironment.run(TestEnvironment.batond, [], environment: e)
        return (r.status, r.output)
    }

    @Test func refusesToStartWithoutTokens() throws {
        let (status, output) = try start([:])
        #expect(status == 2 && output.contains("BATON_API_TOKENS"))
    }

    @Test(arguments: [("BATON_BREAKER_THRESHOLD", "zero"), ("BATON_DEFAULT_TTL_MS", "10"), ("BATON_ON_REDIS_FAILURE", "maybe"),
                      ("BATON_REDIS_URL", "http://x"), ("BATON_LOG_FORMAT", "xml"), ("BATON_THREADS", "0"), ("BATON_AUTH", "off"),
                      ("BATON_JELLYFIN_SCHEMA", "public; drop"), ("BATON_LISTEN", "nowhere"), ("BATON_REDIS_PIPELINE", "yes")])
    func badValuesNameTheVariable(_ variable: String, _ value: String) throws {
        let (status, output) = try start(["BATON_API_TOKENS": "a-long-enough-token-123", variable: value])
        #expect(status == 2, "\(variable)=\(value) should stop start-up: \(output)")
        if variable != "BATON_JELLYFIN_SCHEMA" && variable != "BATON_LISTEN" && variable != "BATON_REDIS_URL" {
            #expect(output.contains(variable), "\(output)")
        }
    }

    @Test func helpListsEveryVariableAndFlag() throws {
        let r = try TestEnvironment.run(TestEnvironment.batond, ["--help"])
        #expect(r.status == 0)
        for v in ["BATON_LISTEN", "BATON_REDIS_URL", "BATON_DATABASE_URL", "BATON_API_TOKENS", "BATON_API_TOKENS_FILE", "BATON_AUTH",
                  "BATON_DEFAULT_TTL_MS", "BATON_BREAKER_THRESHOLD", "BATON_BREAKER_COOLDOWN_MS", "BATON_ON_REDIS_FAILURE",
                  "BATON_REDIS_TIMEOUT_MS", "BATON_PG_TIMEOUT_MS", "BATON_SESSION_CACHE_TTL_MS", "BATON_JELLYFIN_SCHEMA",
                  "BATON_LEGACY_AUTH", "BATON_THREADS", "BATON_LOG_LEVEL", "BATON_LOG_FORMAT", "BATON_REDIS_PIPELINE",
                  "--breaker-threshold", "--listen", "--redis-pipeline"] {
            #expect(r.output.contains(v), "--help lacks \(v)")
        }
        let flag = try TestEnvironment.run(TestEnvironment.batond, ["--breaker-threshold", "nope", "--api-tokens", "a-long-enough-token-123"])
        #expect(flag.status == 2 && flag.output.contains("--breaker-threshold"))
    }
}
