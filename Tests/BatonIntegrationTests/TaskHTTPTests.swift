import BatonTestSupport
import Foundation
import Testing

/// Task claims through batond, with run history checked in PostgreSQL.
@Suite struct TaskHTTPTests {
    func claim(_ c: HTTPClient, _ holder: String, task: String = "RefreshLibrary", extra: String = "") throws -> HTTPClient.Response {
        try c.post("/tasks/claim", #"{"task":"\#(task)","holder":"\#(holder)"\#(extra)}"#)
    }

    func complete(_ c: HTTPClient, _ holder: String, runId: String, task: String = "RefreshLibrary", status: String = "succeeded",
                  detail: String? = nil) throws -> HTTPClient.Response {
        let d = detail.map { #","detail":"\#($0)""# } ?? ""
        return try c.post("/tasks/complete", #"{"task":"\#(task)","run_id":"\#(runId)","holder":"\#(holder)","status":"\#(status)"\#(d)}"#)
    }

    func runs(_ c: HTTPClient, _ task: String = "RefreshLibrary") throws -> [[String: Any]] {
        try c.get("/tasks/\(task)/runs?limit=100").json["runs"] as? [[String: Any]] ?? []
    }

    @Test func concurrentClaimsHaveExactlyOneWinner() throws {
        let s = try Stack()
        let port = s.batond.port
        let answers = try concurrently(8) { i in
            try HTTPClient(port: port, token: BatondProcess.token).post("/tasks/claim", #"{"task":"Scan","holder":"pod-\#(i)"}"#)
        }
        let winners = answers.filter { $0.status == 200 }
        #expect(winners.count == 1)
        let winner = try #require(winners.first)
        #expect(winner["claimed"] as? Bool == true && (winner["fencing_token"] as? Int ?? 0) > 0 && winner["state"] as? String == "running")
        for loser in answers where loser.status == 409 {
            #expect(loser["reason"] as? String == "held" && loser["holder"] as? String == winner["holder"] as? String)
            #expect(loser["run_id"] as? String == winner["run_id"] as? String)
        }
        #expect(answers.filter { $0.status == 409 }.count == 7)
    }

    @Test func aSlotRunsOnceEvenAfterItsClaimExpired() throws {
        let s = try Stack()
        let slot = #","slot":"2026-11-27T03:00:00Z","lock_at_most_ms":1000"#
        let first = try claim(s.client, "pod-a", extra: slot)
        let runId = try #require(first["run_id"] as? String)
        #expect(try complete(s.client, "pod-a", runId: runId).status == 200)
        usleep(1_100_000)
        let again = try claim(s.client, "pod-b", extra: slot)
        #expect(again.status == 409 && again["reason"] as? String == "slot_done")
        let next = try claim(s.client, "pod-b", extra: #","slot":"2026-11-27T04:00:00Z""#)
        #expect(next.status == 200)
    }

    @Test func lockAtMostBoundsADeadHolderAndLockAtLeastKeepsAFinishedRun() throws {
        let s = try Stack()
        let dead = try claim(s.client, "pod-a", task: "Dead", extra: #","lock_at_most_ms":1000"#)
        #expect(try claim(s.client, "pod-b", task: "Dead").status == 409)
        usleep(1_100_000)
        let takeover = try claim(s.client, "pod-b", task: "Dead")
        #expect(takeover.status == 200 && takeover["fencing_token"] as? Int == (dead["fencing_token"] as? Int).map { $0 + 1 })

        let fast = try claim(s.client, "pod-a", task: "Fast", extra: #","lock_at_least_ms":1500"#)
        let runId = try #require(fast["run_id"] as? String)
        #expect(try complete(s.client, "pod-a", runId: runId, task: "Fast").status == 200)
        let early = try claim(s.client, "pod-b", task: "Fast")
        #expect(early.status == 409 && early["reason"] as? String == "recently_completed" && early["state"] as? String == "completed")
        usleep(1_600_000)
        #expect(try claim(s.client, "pod-b", task: "Fast").status == 200)
    }

    @Test func extendKeepsALongRunAliveAndOnlyForItsHolder() throws {
        let s = try Stack()
        let c = try claim(s.client, "pod-a", extra: #","lock_at_most_ms":1000"#)
        let runId = try #require(c["run_id"] as? String)
        for _ in 0..<3 {
            usleep(600_000)
            let ext = try s.client.post("/tasks/extend", #"{"task":"RefreshLibrary","run_id":"\#(runId)","holder":"pod-a","lock_at_most_ms":1000}"#)
            #expect(ext.status == 200 && ext["claimed"] as? Bool == true)
        }
        let thief = try s.client.post("/tasks/extend", #"{"task":"RefreshLibrary","run_id":"\#(runId)","holder":"pod-b"}"#)
        #expect(thief.status == 409 && thief["claimed"] as? Bool == false)
        #expect(try complete(s.client, "pod-a", runId: runId).status == 200)
    }

    @Test func aLateCompletionIsRefusedButRecorded() throws {
        let s = try Stack()
        let c = try claim(s.client, "pod-a", extra: #","lock_at_most_ms":1000"#)
        let runId = try #require(c["run_id"] as? String)
        usleep(1_100_000)
        let other = try claim(s.client, "pod-b")
        #expect(other.status == 200)
        let late = try complete(s.client, "pod-a", runId: runId, detail: "exit 0")
        #expect(late.status == 409 && late["late"] as? Bool == true && late["recorded"] as? Bool == true)
        #expect((late.json["current"] as? [String: Any])?["holder"] as? String == "pod-b")
        #expect(try eventually {
            try runs(s.client).contains { $0["run_id"] as? String == runId && $0["late"] as? Bool == true && $0["status"] as? String == "succeeded" }
        })
        let row = try s.database.sql("SELECT status || ',' || late || ',' || holder || ',' || detail FROM baton.task_runs WHERE run_id = '\(runId)'")
        #expect(row == "succeeded,true,pod-a,exit 0")
    }

    /// Redis' slot markers are gone after a restart without data; the history still knows.
    @Test func aSlotCompletedBeforeRedisForgotStaysDone() throws {
        let s = try Stack()
        let slot = #","slot":"2026-11-27T03:00:00Z""#
        let c = try claim(s.client, "pod-a", extra: slot)
        let runId = try #require(c["run_id"] as? String)
        #expect(try complete(s.client, "pod-a", runId: runId).status == 200)
        #expect(try eventually { try runs(s.client).first?["status"] as? String == "succeeded" })
        try s.redis.restart()  // no persistence: the slot marker is gone
        let again = try claim(s.client, "pod-b", extra: slot)
        #expect(again.status == 409 && again["reason"] as? String == "slot_done", "\(again)")
        // The finished run is not waited for (nobody believes in it), and other slots run.
        let next = try claim(s.client, "pod-b", extra: #","slot":"2026-11-27T04:00:00Z""#)
        #expect(next.status == 200, "\(next)")
    }

    @Test func historyListsRunsAndTenures() throws {
        let s = try Stack()
        let c = try claim(s.client, "pod-a", extra: #","slot":"s1""#)
        let runId = try #require(c["run_id"] as? String)
        #expect(try complete(s.client, "pod-a", runId: runId, status: "failed", detail: "exit 3").status == 200)
        #expect(try eventually { try runs(s.client).first?["status"] as? String == "failed" })
        let run = try #require(try runs(s.client).first)
        #expect(run["holder"] as? String == "pod-a" && run["slot"] as? String == "s1" && run["detail"] as? String == "exit 3")
        #expect(run["fencing_token"] as? Int == c["fencing_token"] as? Int && run["mode"] as? String == "normal" && run["duration_ms"] is Int)
        let tasks = try s.client.get("/tasks")
        #expect(tasks.json["history_available"] as? Bool == true)
        let entry = try #require((tasks.json["tasks"] as? [[String: Any]])?.first)
        #expect(entry["task"] as? String == "RefreshLibrary")
        #expect((entry["last_run"] as? [String: Any])?["status"] as? String == "failed")

        let first = try #require(try s.client.post("/leader", #"{"lease":"sched","holder":"pod-a","ttl_ms":1000}"#)["fencing_token"] as? Int)
        _ = try s.client.post("/lease/release", #"{"lease":"sched","holder":"pod-a"}"#)
        _ = try s.client.post("/leader", #"{"lease":"sched","holder":"pod-b","ttl_ms":1000}"#)
        usleep(1_100_000)
        _ = try s.client.post("/leader", #"{"lease":"sched","holder":"pod-a","ttl_ms":1000}"#)
        #expect(try eventually {
            let t = try s.client.get("/leases/sched/history").json["tenures"] as? [[String: Any]] ?? []
            return t.count == 3
        })
        let tenures = try s.client.get("/leases/sched/history").json["tenures"] as? [[String: Any]] ?? []
        #expect(tenures.map { $0["fencing_token"] as? Int } == [first + 2, first + 1, first])
        #expect(tenures.map { $0["end_reason"] as? String } == [nil, "expired", "released"])
        #expect(tenures.map { $0["holder"] as? String } == ["pod-a", "pod-b", "pod-a"])
    }

    @Test func badTaskInputNamesTheField() throws {
        let s = try Stack()
        let big = String(repeating: "x", count: 4_097)
        let cases: [(String, String, String)] = [
            ("/tasks/claim", #"{"task":"T","holder":"h","lock_at_most_ms":1000,"lock_at_least_ms":2000}"#, "lock_at_least_ms"),
            ("/tasks/claim", #"{"task":"T","holder":"h","lock_at_most_ms":604800001}"#, "lock_at_most_ms"),
            ("/tasks/claim", #"{"task":"T","holder":"h","slot":""}"#, "slot"),
            ("/tasks/extend", #"{"task":"T","run_id":"nope","holder":"h"}"#, "run_id"),
            ("/tasks/complete", #"{"task":"T","run_id":"11111111-2222-3333-4444-555555555555","holder":"h","status":"running"}"#, "status"),
            ("/tasks/complete", #"{"task":"T","run_id":"11111111-2222-3333-4444-555555555555","holder":"h","status":"succeeded","detail":"\#(big)"}"#, "detail"),
            ("/tasks/complete", #"{"task":"T","run_id":"11111111-2222-3333-4444-555555555555","holder":"h"}"#, "status"),
        ]
        for (path, body, field) in cases {
            let r = try s.client.post(path, body)
            #expect(r.status == 400 && r["field"] as? String == field, "\(path) \(body.prefix(80)) -> \(r)")
        }
        #expect(try s.client.get("/tasks/bad%20name/runs").status == 400)
    }
}

/// PostgreSQL outages: coordination keeps working, history waits and nothing is lost.
@Suite struct HistoryDurabilityTests {
    @Test func postgresStoppedMidTestLosesNoHistoryRow() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess()
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: pg.url)
        let c = batond.client()
        var runIds: [String] = []
        func cycle(_ i: Int) throws {
            let claim = try c.post("/tasks/claim", #"{"task":"T\#(i)","holder":"pod-a"}"#)
            #expect(claim.status == 200, "claims must keep working: \(claim)")
            let runId = try #require(claim["run_id"] as? String)
            runIds.append(runId)
            #expect(try c.post("/tasks/complete", #"{"task":"T\#(i)","run_id":"\#(runId)","holder":"pod-a","status":"succeeded"}"#).status == 200)
        }
        for i in 0..<5 { try cycle(i) }
        try pg.stop()
        for i in 5..<25 { try cycle(i) }
        #expect(try c.post("/leader", #"{"lease":"L","holder":"pod-a"}"#).status == 200)
        let pending = (try c.get("/status").json["outbox"] as? [String: Any])?["pending"] as? Int ?? 0
        #expect(pending > 0, "rows written while PostgreSQL is down wait in the outbox")
        #expect(try c.get("/metrics", auth: false).text.contains("baton_history_outbox_pending \(pending)"))
        #expect(try c.get("/tasks/T7/runs").status == 503)
        try pg.start()
        #expect(try eventually(15) { ((try c.get("/status").json["outbox"] as? [String: Any])?["pending"] as? Int) == 0 })
        let count = try pg.sql("SELECT count(*) FROM baton.task_runs WHERE status = 'succeeded' AND finished_at IS NOT NULL AND claimed_at IS NOT NULL")
        #expect(count == "25")
        let ids = Set(try pg.sql("SELECT run_id FROM baton.task_runs").split(separator: "\n").map(String.init))
        #expect(ids == Set(runIds))
        #expect(try pg.sql("SELECT count(*) FROM baton.lease_tenures") == "1")
        #expect(((try c.get("/status").json["outbox"] as? [String: Any])?["dropped"] as? Int) == 0)
    }

    @Test func shutdownFlushesTheOutbox() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess()
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: pg.url)
        let c = batond.client()
        for i in 0..<30 { #expect(try c.post("/tasks/claim", #"{"task":"F\#(i)","holder":"pod-a"}"#).status == 200) }
        #expect(batond.stop(signal: SIGTERM) == 0)
        #expect(try pg.sql("SELECT count(*) FROM baton.task_runs") == "30")
    }

    @Test func migrationsAreIdempotentWhenTwoServersStartTogether() throws {
        let pg = try PostgresServer()
        let redis = try RedisProcess()
        let servers = try concurrently(3) { _ in try BatondProcess(redisURL: redis.url, databaseURL: pg.url) }
        #expect(try pg.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM baton.schema_migrations") == "1,2,3")
        for s in servers { #expect(!s.log.contains("\"level\":\"error\""), "\(s.log)") }
        let restarted = try BatondProcess(redisURL: redis.url, databaseURL: pg.url)
        #expect(restarted.log.contains("schema baton is up to date"))
        #expect(try pg.sql("SELECT count(*) FROM baton.schema_migrations") == "3")
        // Everything batond writes is a structured line, libpq's and libmicrohttpd's messages
        // included (no raw "NOTICE: schema already exists").
        for s in servers + [restarted] {
            for line in s.log.split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not a JSON line: \(line)")
            }
        }
    }
}
