import BatonCore
import BatonRedis
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// Each way a real redis-server 7.0 can be set up wrong for batond (ACL users, passwords,
/// a replica, a sentinel, a cluster node, a renamed command, a full memory) is answered
/// 503 with its own code and never counts toward the breaker: with threshold 1 and policy
/// `grant`, one counted failure would tell every caller to lead.
@Suite(.serialized) struct RedisMisconfigurationTests {
    struct Wiring {
        let election: LeaderElection
        let tasks: TaskCoordinator
        let breaker: CircuitBreaker
    }

    /// Leader election and task claims on `url`, with a breaker that opens at the first
    /// counted failure and grants everyone once open.
    static func wiring(_ url: String) throws -> Wiring {
        let redis = PerThreadRedis(endpoint: try RedisEndpoint(url: url, timeoutMs: 500))
        let breaker = CircuitBreaker(backend: .redis, threshold: 1, cooldownMs: 60_000)
        let history = RecordingHistory()
        return Wiring(election: LeaderElection(store: RedisLeaseStore(redis: redis), breaker: breaker, defaultPolicy: .grant, history: history),
                      tasks: TaskCoordinator(store: RedisClaimStore(redis: redis), breaker: breaker, defaultPolicy: .grant, history: history),
                      breaker: breaker)
    }

    /// Acquire, renew, claim and read, several times each: every answer is a 503 naming
    /// `expected`, none is a grant, and the breaker never opens.
    ///
    /// `writesRefused`: only writing is denied (the refusal happens inside a script). A renew of
    /// a lease nobody holds grants nothing and so writes nothing (issue 15): it is a plain
    /// 409, which is right, and never a grant.
    static func expectMisconfigured(_ url: String, _ expected: Misconfiguration, writesRefused: Bool = false,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let w = try wiring(url)
        let lease = LeaseName("misconfig")!
        let holder = Holder("pod-a")!
        var codes: [Misconfiguration?] = []
        var renewConflicts = 0
        func note<V>(_ d: Decision<V>) {
            switch d {
            case .unavailable(let error, _): codes.append(error?.misconfiguration)
            default: codes.append(nil)  // a grant, a conflict or a recovery answer: all wrong here
            }
        }
        for _ in 0..<4 {
            note(w.election.acquire(lease, holder: holder, ttlMs: 5_000))
            let renewed = w.election.renew(lease, holder: holder, ttlMs: 5_000, fencingToken: nil)
            if writesRefused, case .conflict = renewed { renewConflicts += 1 } else { note(renewed) }
            note(w.tasks.claim(ClaimRequest(task: TaskName("nightly")!, holder: holder, slot: nil, lockAtMostMs: 60_000, lockAtLeastMs: 0)))
        }
        #expect(codes == Array(repeating: expected, count: codes.count), "answers for \(expected.rawValue)", sourceLocation: sourceLocation)
        #expect(codes.count + renewConflicts == 12, sourceLocation: sourceLocation)
        #expect(w.breaker.state == .closed, sourceLocation: sourceLocation)
        #expect(w.breaker.snapshot().totalFailures == 0, sourceLocation: sourceLocation)
    }

    @Test func aclPasswordAndDatabaseMistakesEachHaveTheirOwnCode() throws {
        let redis = try RedisProcess()
        try redis.cli("ACL", "SETUSER", "baton", "on", ">good-pw", "~baton:*", "&baton:changes", "+@all")
        try redis.cli("ACL", "SETUSER", "noscripts", "on", ">pw", "~baton:*", "&baton:changes", "+@all", "-evalsha", "-eval")
        try redis.cli("ACL", "SETUSER", "wrongkeys", "on", ">pw", "~other:*", "&baton:changes", "+@all")
        try redis.cli("ACL", "SETUSER", "nohset", "on", ">pw", "~baton:*", "&baton:changes", "+@all", "-hset")
        let at = "127.0.0.1:\(redis.port)"
        // The good user works: the failures below come from the setting under test.
        let good = try Self.wiring("redis://baton:good-pw@\(at)/0")
        #expect(good.election.acquire(LeaseName("ok")!, holder: Holder("pod-a")!, ttlMs: 5_000).value?.mode == .normal)

        try Self.expectMisconfigured("redis://noscripts:pw@\(at)/0", .aclDenied)
        try Self.expectMisconfigured("redis://wrongkeys:pw@\(at)/0", .aclDenied)
        try Self.expectMisconfigured("redis://nohset:pw@\(at)/0", .aclDenied, writesRefused: true)  // refused inside the script
        try Self.expectMisconfigured("redis://baton:wrong-pw@\(at)/0", .authFailed)
        try Self.expectMisconfigured("redis://baton:good-pw@\(at)/99", .badDatabase)
        try redis.cli("ACL", "SETUSER", "default", "on", "resetpass", ">default-pw")
        redis.cliAuth = ["-a", "default-pw"]
        try Self.expectMisconfigured("redis://\(at)/0", .authRequired)
    }

    @Test func wrongKindOfServerIsNamed() throws {
        let master = try RedisProcess()
        let replica = try RedisProcess(extraArgs: ["--replicaof", "127.0.0.1", String(master.port)])
        try Self.expectMisconfigured(replica.url, .isReplica)
        let sentinel = try SentinelProcess(monitoring: [("baton-master", master.port)])
        try Self.expectMisconfigured("redis://127.0.0.1:\(sentinel.port)/0", .isSentinel)
        let clusterNode = try RedisProcess(extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        try Self.expectMisconfigured(clusterNode.url, .clusterMode)
        let renamed = try RedisProcess(extraArgs: ["--rename-command", "EVALSHA", "", "--rename-command", "EVAL", ""])
        try Self.expectMisconfigured(renamed.url, .unknownCommand)
    }

    @Test func outOfMemoryIsNotAnOutage() throws {
        let redis = try RedisProcess()
        try redis.cli("SET", "filler", String(repeating: "x", count: 1_000))
        try redis.cli("CONFIG", "SET", "maxmemory", "1")
        try Self.expectMisconfigured(redis.url, .outOfMemory, writesRefused: true)
        // The same wiring does grant everyone on a real outage: that is what a
        // misconfiguration must never reach.
        let w = try Self.wiring(redis.url)
        redis.kill()
        let lease = LeaseName("misconfig")!
        _ = w.election.acquire(lease, holder: Holder("pod-a")!, ttlMs: 5_000)
        #expect(w.election.acquire(lease, holder: Holder("pod-b")!, ttlMs: 5_000).value?.mode == .degraded)
    }

    /// The ACL docker/README.md documents, taken from the README itself.
    static func documentedACL() throws -> [String] {
        let readme = try String(contentsOfFile: TestEnvironment.root + "/docker/README.md", encoding: .utf8)
        let line = try #require(readme.split(separator: "\n").first { $0.hasPrefix("ACL SETUSER baton ") })
        return line.split(separator: " ").map { $0 == ">REDIS_PASSWORD" ? ">pw" : String($0) }
    }

    /// Runs a change feed for up to 3 s: whether it came up, and why it was down meanwhile.
    static func feedOutcome(_ url: String) throws -> (up: Bool, reasons: [String]) {
        let seen = FeedSeen()
        let endpoint = try RedisEndpoint(url: url)
        let feed = RedisChangeFeed(endpoint: { endpoint }, listener: seen)
        feed.start()
        defer { feed.stop() }
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline && !seen.isUp { usleep(20_000) }
        return (seen.isUp, seen.reasons)
    }

    /// Every endpoint's traffic passes the documented ACL, the start-up check finds nothing
    /// refused, and dropping any one of its commands is noticed by the check.
    @Test func documentedMinimalACLIsEnoughAndEachCommandIsNeeded() throws {
        let redis = try RedisProcess()
        let acl = try Self.documentedACL()
        try redis.cli(acl)
        let url = "redis://baton:pw@127.0.0.1:\(redis.port)/0"
        let w = try Self.wiring(url)
        let lease = LeaseName("acl")!, holder = Holder("pod-a")!, task = TaskName("acl-task")!
        let got = w.election.acquire(lease, holder: holder, ttlMs: 5_000).value
        #expect(got?.mode == .normal)
        #expect(w.election.renew(lease, holder: holder, ttlMs: 5_000, fencingToken: got?.fencingToken).value != nil)
        #expect(w.election.state(lease).value != nil && w.election.all().value?.count == 1)
        #expect(w.election.release(lease, holder: holder, fencingToken: nil).value?.released == true)
        let claim = w.tasks.claim(ClaimRequest(task: task, holder: holder, slot: Slot("s1"), lockAtMostMs: 60_000, lockAtLeastMs: 0)).value
        let runId = try #require(claim?.runId)
        #expect(w.tasks.extend(task, runId: runId, holder: holder, lockAtMostMs: 60_000).value?.claimed == true)
        #expect(w.tasks.complete(task, runId: runId, holder: holder, status: .succeeded, detail: nil).value != nil)
        #expect(w.tasks.all().value?.count == 1)
        #expect(w.breaker.snapshot().totalFailures == 0)
        let check = RedisServerCheck.run(PerThreadRedis(endpoint: try RedisEndpoint(url: url)))
        #expect(check.aclDenied.isEmpty && check.infoAllowed && check.configAllowed && check.role == "master", "\(check.warnings)")
        #expect(check.warnings.isEmpty, "\(check.warnings)")

        // The change feed subscribes under it; without +subscribe it is refused and says so.
        #expect(try Self.feedOutcome(url).up, "the change feed comes up under the documented ACL")
        try redis.cli(["ACL", "SETUSER", "baton", "reset"])
        try redis.cli(acl.filter { $0 != "+subscribe" })
        let refused = try Self.feedOutcome(url)
        #expect(!refused.up && refused.reasons.contains { $0.contains("refused the change feed") && $0.contains("NOPERM") }, "\(refused.reasons)")

        // The start-up check notices each command missing (SUBSCRIBE: the feed, above).
        for (i, word) in acl.enumerated() where word.hasPrefix("+") && word != "+subscribe" {
            var without = acl
            without.remove(at: i)
            try redis.cli(["ACL", "SETUSER", "baton", "reset"])
            try redis.cli(without)
            let c = RedisServerCheck.run(PerThreadRedis(endpoint: try RedisEndpoint(url: url)))
            #expect(!c.warnings.isEmpty, "the start-up check does not notice the ACL without \(word)")
        }
    }

    /// What an operator sees: the 503 code over HTTP, one start-up line, `/status`
    /// warnings, the metric, and a log line per interval rather than per answer.
    @Test func batondPointedAtASentinelSaysSoAndNeverGrants() throws {
        let master = try RedisProcess()
        let sentinel = try SentinelProcess(monitoring: [("baton-master", master.port)])
        let database = try PostgresDatabase()
        let batond = try BatondProcess(redisURL: "redis://127.0.0.1:\(sentinel.port)/0", databaseURL: database.url,
                                       extra: ["BATON_BREAKER_THRESHOLD": "1"])
        let client = batond.client()
        for i in 0..<6 {
            let r = try client.post("/leader", #"{"lease":"scheduler","holder":"pod-\#(i)","ttl_ms":5000}"#)
            #expect(r.status == 503)
            #expect(r["code"] as? String == "redis_is_sentinel")
            #expect((r["detail"] as? String)?.contains("redis-sentinel://") == true)
        }
        let claim = try client.post("/tasks/claim", #"{"task":"nightly","holder":"pod-a"}"#)
        #expect(claim.status == 503 && claim["code"] as? String == "redis_is_sentinel")
        let status = try client.get("/status")
        let warnings = status.json["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.hasPrefix("redis_is_sentinel") })
        #expect(((status.json["backends"] as? [String: Any])?["redis"] as? [String: Any])?["breaker"] as? String == "closed")
        let metrics = try client.get("/metrics", auth: false).text
        #expect(metrics.contains(#"baton_redis_misconfiguration_answers_total{code="redis_is_sentinel"} 7"#))
        #expect(metrics.contains(#"baton_degraded_grants_total{kind="lease"} 0"#))
        let log = batond.log
        #expect(log.components(separatedBy: "redis checked").count - 1 == 1)
        #expect(log.contains(#""misconfiguration":"redis_is_sentinel""#))
        #expect(log.components(separatedBy: "redis is misconfigured for batond").count - 1 == 1)
    }

    @Test func batondStartupCheckNamesWhatTheACLRefuses() throws {
        let redis = try RedisProcess()
        try redis.cli("ACL", "SETUSER", "baton", "on", ">pw", "~baton:*", "+@all", "-hset", "-info", "-config")
        let database = try PostgresDatabase()
        let batond = try BatondProcess(redisURL: "redis://baton:pw@127.0.0.1:\(redis.port)/0", databaseURL: database.url)
        let status = try batond.client().get("/status")
        let warnings = status.json["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("redis_acl_denied") && $0.contains("HSET") })
        #expect(warnings.contains { $0.contains("INFO is denied") })
        #expect(warnings.contains { $0.contains("CONFIG GET is denied") })
        #expect(!warnings.contains { $0.contains("EXISTS") || $0.contains("PTTL") })  // allowed commands are not named
        let r = try batond.client().post("/leader", #"{"lease":"scheduler","holder":"pod-a"}"#)
        #expect(r.status == 503 && r["code"] as? String == "redis_acl_denied")
        #expect(batond.log.contains(#""acl":"denied""#))
    }
}

/// What a change feed told its listener.
private final class FeedSeen: ChangeListener {
    private let state = Mutex<(up: Bool, reasons: [String])>((false, []))
    var isUp: Bool { state.withLock { $0.up } }
    var reasons: [String] { state.withLock { $0.reasons } }
    func changed(_ key: WatchKey) {}
    func feedUp(expiryEvents: Bool) { state.withLock { $0.up = true } }
    func feedDown(_ reason: String) { state.withLock { $0.reasons.append(reason) } }
}
