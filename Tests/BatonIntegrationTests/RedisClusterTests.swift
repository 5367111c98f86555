import BatonCore
import BatonSupport
@testable import BatonRedis
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// batond on redis-cluster:// against a real Redis Cluster on loopback: three masters
/// (`redis-cli --cluster create`), one replica of the first. Leases on every shard, a slot
/// migrated by hand (ASK while migrating, MOVED after), the first shard failed over
/// gracefully (CLUSTER FAILOVER: its master stays reachable) and then by SIGKILL of its
/// master (the old one is promoted back). Leases of the other shards keep normal answers
/// throughout; the failed shard's leases get 409 recovering (run_id guard per node), never
/// degraded while their master answered, then normal grants with higher tokens.
@Suite(.serialized) struct RedisClusterTests {
    /// A node of the test cluster: fast failure detection, and the other shards keep
    /// serving while one has no master (cluster-require-full-coverage no, as docker/README.md says).
    static func node() throws -> RedisProcess {
        try RedisProcess(extraArgs: ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                                     "--cluster-require-full-coverage", "no", "--cluster-replica-validity-factor", "0"])
    }

    static func cli(_ args: [String]) throws -> String {
        let cli = URL(fileURLWithPath: TestEnvironment.redisServer).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        let r = try TestEnvironment.run(cli, args)
        return r.output
    }

    static func nodeId(_ n: RedisProcess) throws -> String { try n.cli("CLUSTER", "MYID") }

    /// Waits (bounded) until `check` holds.
    static func eventually(_ seconds: Double, _ what: String, _ check: () throws -> Bool) throws {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if (try? check()) == true { return }
            usleep(50_000)
        }
        throw TestSetupError("timed out after \(seconds) s waiting for \(what)")
    }

    /// A lease name whose slot is in `range`.
    static func lease(in range: ClosedRange<Int>, _ prefix: String) -> String {
        for i in 0..<100_000 where range.contains(ClusterSlot.of("baton:lease:{\(prefix)\(i)}")) { return "\(prefix)\(i)" }
        fatalError("no name found")
    }

    @Test func slotsFollowRedisClusterHashTags() {
        // Values from redis-cli CLUSTER KEYSLOT (Redis 7.0.15).
        #expect(ClusterSlot.of("foo") == 12182)
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("{user1000}.followers"))
        #expect(ClusterSlot.of("baton:lease:{scheduler}") == ClusterSlot.of("baton:lease:{scheduler}:meta"))
        #expect(ClusterSlot.of("foo{}{bar}") == ClusterSlot.of("foo{}{bar}"))
        #expect(ClusterSlot.of("123456789") == Int(0x31C3 & 0x3FFF))
        let e = try? RedisEndpoint(url: "redis-cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(e?.clusterSeeds?.map(\.description) == ["10.0.0.1:7000", "10.0.0.2:6379", "[::1]:7002"])
        #expect(e?.password == "p@ss" && e?.description == "redis-cluster://10.0.0.1:7000,10.0.0.2:6379,[::1]:7002/0")
        #expect(throws: ConfigurationError.self) { try RedisEndpoint(url: "redis-cluster://h1:7000/3") }
    }

    @Test func leasesOnEveryShardSurviveMigrationAndOneShardsFailover() throws {
        guard TestEnvironment.postgresURL != nil else { throw TestSetupError("BATON_TEST_DATABASE_URL is not set: run ./scripts/test") }
        let masters = try (0..<3).map { _ in try Self.node() }
        let replica = try Self.node()
        _ = try Self.cli(["--cluster", "create"] + masters.map { "127.0.0.1:\($0.port)" } + ["--cluster-yes"])
        let m0 = try Self.nodeId(masters[0])
        try replica.cli("CLUSTER", "MEET", "127.0.0.1", String(masters[0].port))
        try Self.eventually(10, "the replica to join") { try replica.cli("CLUSTER", "NODES").contains(m0) }
        try replica.cli("CLUSTER", "REPLICATE", m0)
        try Self.eventually(15, "cluster_state:ok and the replica in sync") {
            try (masters + [replica]).allSatisfy { try $0.cli("CLUSTER", "INFO").contains("cluster_state:ok") }
                && (try replica.cli("INFO", "replication").contains("master_link_status:up"))
        }
        // redis-cli --cluster create splits the slots evenly: 0-5460, 5461-10922, 10923-16383.
        let shard = [0...5460, 5461...10922, 10923...16383]
        let leases = (0..<3).map { i in (0..<2).map { j in Self.lease(in: shard[i], "s\(i)l\(j)-") } }
        // batond as the user of docker/README.md's minimal ACL (ACLs are per node in Redis 7.0).
        let acl = try RedisMisconfigurationTests.documentedACL()
        for n in masters + [replica] { try n.cli(acl) }
        // Expired-key events on: each node sends only its own keys' (checked below).
        for n in masters + [replica] { try n.cli("CONFIG", "SET", "notify-keyspace-events", "Ex") }
        let database = try PostgresDatabase()
        // Two seeds only: the third master is learnt from CLUSTER SLOTS.
        let batond = try BatondProcess(redisURL: "redis-cluster://baton:pw@127.0.0.1:\(masters[1].port),127.0.0.1:\(masters[2].port)",
                                       databaseURL: database.url, extra: ["BATON_BREAKER_THRESHOLD": "3"])
        let client = batond.client()
        func acquire(_ lease: String, _ holder: String = "pod-a") throws -> HTTPClient.Response {
            try client.post("/leader", #"{"lease":"\#(lease)","holder":"\#(holder)","ttl_ms":3000}"#)
        }
        var tokens: [String: Int] = [:]
        for l in leases.joined() {
            let r = try acquire(l)
            #expect(r.status == 200 && r["mode"] as? String == "normal" && r["acquired"] as? Bool == true, "\(l): \(r)")
            tokens[l] = r["fencing_token"] as? Int
        }
        #expect(try acquire(leases[0][0], "pod-b").status == 409)
        // A blocking read on a lease of shard 0 (the change feed is subscribed on the first
        // seed, shard 1) wakes when the tenure expires: under Cluster the feed re-reads at
        // expiry instead of trusting one node's expired events.
        try Self.eventually(10, "the change feed up") { (try client.get("/status").json["watch"] as? [String: Any])?["feed"] as? String == "up" }
        let short = Self.lease(in: shard[0], "exp-")
        #expect(try client.post("/leader", #"{"lease":"\#(short)","holder":"pod-a","ttl_ms":1500}"#).status == 200)
        let watchIndex = try #require(try client.get("/leader?lease=\(short)").header("x-baton-index"))
        let watchStart = Date()
        let expired = try HTTPClient(port: batond.port, token: BatondProcess.token, timeoutSeconds: 30)
            .get("/leader?lease=\(short)&index=\(watchIndex)&wait=15s")
        #expect(expired.status == 200 && expired["holder"] is NSNull && Date().timeIntervalSince(watchStart) < 6,
                "woken at the expiry on another shard, not at the end of the wait: \(Date().timeIntervalSince(watchStart)) s, \(expired)")
        var status: [String: Any] = [:]
        var redis: [String: Any] = [:]
        func readStatus() throws {
            status = try client.get("/status").json
            redis = (status["backends"] as? [String: Any])?["redis"] as? [String: Any] ?? [:]
        }
        func shardOf(_ master: RedisProcess) -> [String: Any]? {
            (redis["shards"] as? [[String: Any]] ?? []).first { $0["master"] as? String == "127.0.0.1:\(master.port)" }
        }
        try readStatus()
        #expect(redis["mode"] as? String == "cluster" && redis["server_mode"] as? String == "cluster", "\(redis)")
        #expect((status["warnings"] as? [String] ?? []).isEmpty, "the documented ACL must be enough under Cluster: \(status["warnings"] ?? "")")
        #expect(batond.log.contains(#""acl":"ok""#) && batond.log.contains(#""server_mode":"cluster""#), "\(batond.log.suffix(2000))")
        let shards = redis["shards"] as? [[String: Any]] ?? []
        #expect(Set(shards.compactMap { $0["master"] as? String }) == Set(masters.map { "127.0.0.1:\($0.port)" }), "\(shards)")
        #expect(shardOf(masters[2])?["slots"] as? [String] == ["10923-16383"], "\(shards)")
        // The seeds learn of the replica by gossip; the watcher re-reads the map every second.
        try Self.eventually(10, "the replica in /status") {
            try readStatus()
            return shardOf(masters[0])?["replicas"] as? [String] == ["127.0.0.1:\(replica.port)"]
        }
        // GET /leases scans every master.
        #expect(Set((try client.get("/leases").json["leases"] as? [[String: Any]] ?? []).compactMap { $0["lease"] as? String }) == Set(leases.joined() + [short]))

        // A slot of shard 2 migrated to shard 1 by hand, as redis-cli --cluster reshard does.
        // While it migrates, its keys already moved: the source answers ASK, the target runs
        // the script after ASKING. Then MOVED, once the slot is the target's.
        let fresh = Self.lease(in: shard[2], "mig-")
        let slot = ClusterSlot.of("baton:lease:{\(fresh)}")
        let before = try acquire(fresh)
        #expect(before.status == 200, "\(before)")
        let (src, dst) = (masters[2], masters[1])
        // The same client in this process, with no watcher re-reading the map: its next
        // command after the move must meet MOVED and follow it.
        let direct = PerThreadRedis(endpoint: try RedisEndpoint(url: "redis-cluster://127.0.0.1:\(masters[0].port)"))
        let key = "baton:lease:{\(fresh)}"
        #expect(direct.failureDomain(ofKey: key) == "127.0.0.1:\(src.port)")
        let (srcId, dstId) = (try Self.nodeId(src), try Self.nodeId(dst))
        try dst.cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", srcId)
        try src.cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", dstId)
        try src.cli(["MIGRATE", "127.0.0.1", String(dst.port), "", "0", "5000", "KEYS", "baton:lease:{\(fresh)}", "baton:lease:{\(fresh)}:meta"])
        // The tenure was written under the source's run_id: the target voids it (it cannot
        // tell a migration from a failover to a lagging replica), so a renewal is refused.
        let asked = try client.post("/lease/renew", #"{"lease":"\#(fresh)","holder":"pod-a","ttl_ms":3000}"#)
        #expect(asked.status == 409 && asked["mode"] as? String == "normal", "ASK not followed: \(asked)")
        let settled = try acquire(fresh)
        #expect(settled.status == 409 && settled["reason"] as? String == "recovering", "\(settled)")
        for n in [dst, src, masters[0]] { try n.cli("CLUSTER", "SETSLOT", String(slot), "NODE", dstId) }
        #expect(try direct.route(forKey: key).command(words: ["EXISTS", key + ":meta"]) == .integer(1))
        #expect(direct.cluster?.snapshot.redirects == 1 && direct.failureDomain(ofKey: key) == "127.0.0.1:\(dst.port)")
        // (read once the slot is the target's: an importing node answers MOVED without ASKING)
        #expect(try dst.cli("HGET", "baton:lease:{\(fresh)}:meta", "epoch") == (try dst.cli("INFO", "server")).split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("run_id:") }.map { String($0.dropFirst(7)).trimmingCharacters(in: .whitespacesAndNewlines) }, "the ASK-ed script must run on the target")
        var after: HTTPClient.Response?
        try Self.eventually(8, "a normal grant of the migrated lease") {
            after = try acquire(fresh)
            #expect(after!.status == 200 || (after!.status == 409 && after!["reason"] as? String == "recovering"), "\(after!)")
            return after!.status == 200
        }
        #expect((after?["fencing_token"] as? Int ?? 0) > (before["fencing_token"] as? Int ?? .max), "\(String(describing: after))")
        try Self.eventually(3, "the migrated slot in /status") {
            try readStatus()
            return (shardOf(masters[1])?["slots"] as? [String] ?? []).contains(String(slot))
        }
        #expect((shardOf(masters[1])?["slots"] as? [String] ?? []).contains(String(slot)), "\(redis)")

        // Three holders per lease asking every 200 ms while shard 0 fails over, twice; each
        // lease's holders in a row, so a shared breaker would see shard 0's failures as
        // consecutive and open for every shard.
        struct Answer { let t: Double; let lease: String; let holder: String; let status: Int; let mode: String?; let reason: String?; let token: Int? }
        let answers = Mutex<[Answer]>([])
        let stop = Atomic<Bool>(false)
        let start = Date()
        let port = batond.port
        let all = Array(leases.joined())
        let load = Thread {
            let c = HTTPClient(port: port, token: BatondProcess.token, timeoutSeconds: 3)
            var n = 0
            while !stop.load(ordering: .relaxed) && n < 2_000 {
                n += 1
                for l in all {
                    for h in ["pod-a", "pod-b", "pod-c"] {
                        let r = try? c.post("/leader", #"{"lease":"\#(l)","holder":"\#(h)","ttl_ms":3000}"#)
                        let a = Answer(t: Date().timeIntervalSince(start), lease: l, holder: h, status: r?.status ?? -1, mode: r?["mode"] as? String,
                                       reason: r?["reason"] as? String, token: r?["fencing_token"] as? Int)
                        answers.withLock { $0.append(a) }
                    }
                }
                usleep(200_000)
            }
        }
        load.start()
        defer { stop.store(true, ordering: .relaxed) }
        sleep(1)
        // 1. Graceful: the replica takes over, the old master answers throughout.
        let t1 = Date().timeIntervalSince(start)
        try replica.cli("CLUSTER", "FAILOVER")
        try Self.eventually(15, "the replica promoted") { try replica.cli("ROLE").hasPrefix("master") }
        let t1done = Date().timeIntervalSince(start)
        try Self.eventually(10, "a normal grant on shard 0 after the graceful failover") {
            answers.withLock { $0.contains { $0.t > t1done && $0.lease == leases[0][0] && $0.status == 200 && $0.mode == "normal" } }
        }
        sleep(1)
        // 2. Crash: SIGKILL of the new master; the cluster promotes the old one back.
        let t2 = Date().timeIntervalSince(start)
        replica.kill()
        try Self.eventually(20, "the old master promoted back") { try masters[0].cli("ROLE").hasPrefix("master") }
        let t2done = Date().timeIntervalSince(start)
        try Self.eventually(15, "a normal grant on shard 0 after the crash") {
            answers.withLock { $0.contains { $0.t > t2done && $0.lease == leases[0][0] && $0.status == 200 && $0.mode == "normal" } }
        }
        sleep(1)
        stop.store(true, ordering: .relaxed)
        while !load.isFinished { usleep(20_000) }
        let got = answers.withLock { $0 }

        // The other shards: normal answers to every single call, through both faults: 200
        // to the holder, 409 held to the others.
        let others = got.filter { !leases[0].contains($0.lease) }
        #expect(!others.isEmpty)
        let bad = others.filter { $0.mode != "normal" || $0.status != ($0.holder == "pod-a" ? 200 : 409) }
        #expect(bad.isEmpty, "other shards disturbed: \(bad.prefix(5).map { "\($0.lease) t=\($0.t) \($0.status) \($0.mode ?? "-") \($0.reason ?? "-")" })")
        // Shard 0, graceful phase: its master answered throughout, so never degraded and
        // never a 5xx; the new master's run_id voids the tenure: 409 recovering, then normal.
        let shard0 = got.filter { leases[0].contains($0.lease) }
        let graceful = shard0.filter { $0.t >= t1 && $0.t < t2 }
        #expect(!graceful.contains { $0.mode == "degraded" || $0.status >= 500 },
                "\(graceful.filter { $0.mode == "degraded" || $0.status >= 500 }.prefix(5).map { "t=\($0.t) \($0.status)" })")
        #expect(graceful.contains { $0.status == 409 && $0.reason == "recovering" }, "no recovering answer after the failover")
        // Tokens never go backwards on any lease (one client asks in turn).
        for l in all {
            let ts = got.filter { $0.lease == l }.compactMap(\.token)
            #expect(zip(ts, ts.dropFirst()).allSatisfy { $0 <= $1 }, "\(l): tokens went backwards")
        }
        #expect(shard0.compactMap(\.token).max() ?? 0 > tokens[leases[0][0]] ?? .max)
        // Figures for chaos/README.md: seconds from the fault to the first normal grant.
        func firstNormal(after t: Double) -> Double {
            let lease = leases[0][0]
            let prior = shard0.last { $0.t < t && $0.lease == lease && $0.status == 200 && $0.mode == "normal" }?.token
            return (shard0.first { $0.t > t && $0.lease == lease && $0.status == 200 && $0.mode == "normal" && $0.token != prior }?.t ?? 99) - t
        }
        let crash = shard0.filter { $0.t >= t2 }
        print("cluster-failover graceful_s=\(String(format: "%.2f", t1done - t1)) until_normal_s=\(String(format: "%.2f", firstNormal(after: t1)))"
              + " crash_promotion_s=\(String(format: "%.2f", t2done - t2)) crash_until_normal_s=\(String(format: "%.2f", firstNormal(after: t2)))"
              + " crash_degraded=\(crash.filter { $0.mode == "degraded" }.count) crash_503=\(crash.filter { $0.status == 503 }.count)"
              + " crash_recovering=\(crash.filter { $0.reason == "recovering" }.count) other_shard_answers=\(others.count) other_shard_bad=\(bad.count)")
        // Crash phase: degraded or 503 only while shard 0 had no master (bounded by the promotion).
        #expect(!crash.contains { $0.mode == "degraded" && $0.t > t2done + 0.5 }, "degraded after the promotion")

        try readStatus()
        #expect((redis["failovers_seen"] as? Int ?? 0) >= 2, "\(redis)")
        let now = redis["shards"] as? [[String: Any]] ?? []
        #expect(now.contains { $0["master"] as? String == "127.0.0.1:\(masters[0].port)" && ($0["slots"] as? [String])?.first == "0-5460" }, "\(now)")
        let ctl = try TestEnvironment.run(TestEnvironment.batonctl, ["status", "--url", "http://127.0.0.1:\(batond.port)", "--token", BatondProcess.token])
        #expect(ctl.output.contains("REDIS   cluster") && ctl.output.contains("SHARD MASTER") && ctl.output.contains("127.0.0.1:\(masters[2].port)"), "\(ctl.output)")
    }
}
