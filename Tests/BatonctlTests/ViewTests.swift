import Foundation
import Testing
@testable import batonctl

@Suite struct FormatTests {
    @Test func durations() {
        #expect(Format.duration(ms: Int64(850)) == "850ms")
        #expect(Format.duration(ms: Int64(12_300)) == "12s")
        #expect(Format.duration(ms: Int64(1_500)) == "1.5s")
        #expect(Format.duration(ms: Int64(2_000)) == "2s")
        #expect(Format.duration(ms: Int64(245_000)) == "4m05s")
        #expect(Format.duration(ms: Int64(7_800_000)) == "2h10m")
        #expect(Format.duration(ms: Int64(3 * 86_400_000 + 4 * 3_600_000)) == "3d04h")
        #expect(Format.duration(ms: nil as Int?) == "-")
    }

    @Test func agoAndTimes() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(Format.ago(now.addingTimeInterval(-190), now: now) == "3m10s ago")
        #expect(Format.ago(now.addingTimeInterval(5), now: now) == "in 5s")
        #expect(Format.shortTime(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00Z")
        #expect(Format.truncate("abcdef", 4) == "abc…")
        #expect(Format.truncate("a\nb", 10) == "a b")
        #expect(Format.utf8Prefix("abc", maxBytes: 10) == "abc")
        #expect(Format.utf8Prefix("ééé", maxBytes: 5) == "éé")
        #expect(Format.utf8Prefix(String(repeating: "€", count: 2000), maxBytes: 4096).utf8.count <= 4096)
    }

    @Test func tablesPadColumns() {
        var t = Table("A", "LONGER")
        t.add("wide cell", "x")
        #expect(t.render() == "A          LONGER\nwide cell  x")
    }
}

@Suite struct StatusViewTests {
    func sample() -> (Schemas.Status, [Schemas.LeaseState], Schemas.TaskList) {
        let started = Date(timeIntervalSince1970: 1_795_700_000)
        let status = Schemas.Status(
            version: "1.0.0", started_at: started, uptime_ms: 4_983_123, auth: .required, on_redis_failure: .grant,
            backends: .init(
                redis: .init(endpoint: "redis://redis:6379/0", breaker: .open, consecutive_failures: 5, total_failures: 9,
                             times_opened: 2, last_error: "connect: connection refused", maxmemory_policy: "allkeys-lru", version: "7.0.15"),
                postgres: .init(endpoint: "postgres:5432/jellyfin", breaker: .closed, consecutive_failures: 0, total_failures: 0,
                                times_opened: 0, last_error: nil)),
            outbox: .init(pending: 12, capacity: 10_000, written: 1842, dropped: 0, failures: 3, last_error: nil),
            warnings: ["Redis maxmemory-policy is allkeys-lru"])
        let leases: [Schemas.LeaseState] = [
            .init(lease: "jellyfin-scheduler", holder: "jellyfin-1", leader: false, acquired: false, fencing_token: 41,
                  ttl_ms: 30_000, expires_in_ms: 17_250, acquired_at: started, mode: .normal),
            .init(lease: "library-scan", holder: nil, leader: false, acquired: false, mode: .normal),
        ]
        let run = Schemas.NullableRun(
            run_id: "6f1e8d2c-4a3b-4c5d-9e7f-0a1b2c3d4e5f", task: "RefreshLibrary", slot: "2026-11-26T01:00:00Z", holder: "jellyfin-1",
            fencing_token: 6, claimed_at: started, finished_at: started.addingTimeInterval(750), status: .failed,
            detail: "scan aborted: /media/movies is not mounted", mode: .normal, late: false, duration_ms: 750_000)
        let claim = Schemas.NullableClaimState(
            task: "RefreshLibrary", claimed: false, reason: nil, run_id: "0b8f5a8e-6c1d-4d0e-9a43-2f6c1e7b9d10", holder: "jellyfin-0",
            slot: nil, fencing_token: 7, claimed_at: started, lock_at_most_ms: 3_600_000, lock_at_least_ms: 0,
            expires_in_ms: 3_412_000, state: .running, mode: .normal)
        let tasks = Schemas.TaskList(tasks: [
            .init(task: "RefreshLibrary", claim: claim, last_run: run),
            .init(task: "CleanTranscodeFolder", claim: nil, last_run: nil),
        ], history_available: false)
        return (status, leases, tasks)
    }

    @Test func showsTheRedisMasterAndTheLastFailover() {
        var (status, leases, tasks) = sample()
        status.backends.redis.mode = .sentinel
        status.backends.redis.master = "10.0.0.7:6379"
        status.backends.redis.role = "master"
        status.backends.redis.replication_offset = 123_456
        status.backends.redis.failovers_seen = 2
        status.backends.redis.last_failover = "10.0.0.6:6379 -> 10.0.0.7:6379"
        let text = StatusView.render(url: "http://baton:8080", status: status, leases: leases, tasks: tasks, errors: [:])
        #expect(text.contains("REDIS   sentinel, master 10.0.0.7:6379, role master, replication offset 123456; 2 failovers followed, last 10.0.0.6:6379 -> 10.0.0.7:6379"),
                "\(text)")
    }

    @Test func showsEveryClusterShardWithItsOwnBreaker() {
        var (status, leases, tasks) = sample()
        status.backends.redis.mode = .cluster
        status.backends.redis.master = "10.0.0.1:6379,10.0.0.2:6379"
        status.backends.redis.role = "master"
        status.backends.redis.redirects_followed = 3
        status.backends.redis.shards = [
            .init(master: "10.0.0.1:6379", replicas: ["10.0.0.4:6379"], slots: ["0-8191"], breaker: .closed,
                  consecutive_failures: 0, total_failures: 0, last_error: nil),
            .init(master: "10.0.0.2:6379", replicas: [], slots: ["8192-16383"], breaker: .open,
                  consecutive_failures: 3, total_failures: 7, last_error: "connect: Connection refused"),
        ]
        let text = StatusView.render(url: "http://baton:8080", status: status, leases: leases, tasks: tasks, errors: [:])
        #expect(text.contains("REDIS   cluster, master 10.0.0.1:6379,10.0.0.2:6379, role master; 3 MOVED followed"), "\(text)")
        let rows = text.split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("SHARD MASTER") })
        #expect(rows.contains { $0.hasPrefix("10.0.0.1:6379") && $0.contains("0-8191") && $0.contains("10.0.0.4:6379") }, "\(text)")
        #expect(rows.contains { $0.hasPrefix("10.0.0.2:6379") && $0.contains("8192-16383") && $0.contains("3 now, 7 total") && $0.contains("Connection refused") }, "\(text)")
    }

    @Test func showsWhatMattersAtThreeAM() {
        let (status, leases, tasks) = sample()
        let text = StatusView.render(url: "http://baton:8080", status: status, leases: leases, tasks: tasks, errors: [:],
                                     now: Date(timeIntervalSince1970: 1_795_701_000))
        for needle in [
            "Baton 1.0.0 at http://baton:8080", "WARNING: Redis maxmemory-policy is allkeys-lru",
            "OPEN", "connect: connection refused", "12 pending of 10000",
            "jellyfin-scheduler", "jellyfin-1", "41", "17s", "vacant: library-scan",
            "running on jellyfin-0 token 7, 56m52s left", "failed", "scan aborted", "history unavailable",
        ] {
            #expect(text.contains(needle), "missing \(needle) in:\n\(text)")
        }
    }

    @Test func showsPartsThatFailed() {
        let text = StatusView.render(url: "http://baton:8080", status: nil, leases: nil, tasks: nil,
                                     errors: ["status": "HTTP 401", "leases": "Baton unavailable: HTTP 503", "tasks": "x"])
        #expect(text.contains("status unavailable: HTTP 401"))
        #expect(text.contains("LEASES  unavailable: Baton unavailable: HTTP 503"))
    }
}

@Suite struct JellyfinResultTests {
    @Test func statusMapping() {
        func result(_ s: String?) -> JellyfinTaskResult { JellyfinTaskResult(Status: s) }
        #expect(result("Completed").completionStatus == .succeeded)
        #expect(result("Failed").completionStatus == .failed)
        #expect(result("Cancelled").completionStatus == .cancelled)
        #expect(result("Aborted").completionStatus == .cancelled)
        #expect(result(nil).completionStatus == .failed)
    }

    @Test func decodesJellyfinsTaskList() throws {
        let json = """
        [{"Name":"Scan Media Library","State":"Idle","Id":"7738148ffcd07979c7ceb148e06b3aed","Key":"RefreshLibrary",
          "Category":"Library","IsHidden":false,"Triggers":[],
          "LastExecutionResult":{"StartTimeUtc":"2026-11-27T01:00:00.1234567Z","EndTimeUtc":"2026-11-27T01:02:00.0000000Z",
            "Status":"Completed","Name":"Scan Media Library","Key":"RefreshLibrary","Id":"7738148ffcd07979c7ceb148e06b3aed"}},
         {"Name":"Refresh People","State":"Running","Id":"866456ed0d44e15468124ce33d85961e","Key":"RefreshPeople",
          "CurrentProgressPercentage":42.5}]
        """
        let tasks = try JSONDecoder().decode([JellyfinTask].self, from: Data(json.utf8))
        #expect(tasks.count == 2)
        #expect(tasks[0].LastExecutionResult?.completionStatus == .succeeded)
        #expect(tasks[1].State == "Running")
        #expect(tasks[1].LastExecutionResult == nil)
        let same = tasks[0].LastExecutionResult
        #expect(same?.sameRun(as: same) == true)
        #expect(same?.sameRun(as: nil) == false)
    }
}
