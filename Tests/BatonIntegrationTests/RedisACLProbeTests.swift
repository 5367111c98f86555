import BatonCore
@testable import BatonRedis
import BatonTestSupport
import Foundation
import Testing

/// The start-up ACL probe must try every command the scripts send, or a refused one is
/// found only when a caller gets a 503; and the error texts of Redis 7.0 must map to the
/// codes the operator reads.
struct RedisACLProbeTests {
    static let scripts = [LeaseScripts.acquire, LeaseScripts.renew, LeaseScripts.release, LeaseScripts.state,
                          TaskScripts.claim, TaskScripts.extend, TaskScripts.complete, TaskScripts.state, VoidScripts.claim]

    @Test func probeCoversEveryCommandTheScriptsCall() throws {
        let pattern = try NSRegularExpression(pattern: #"redis\.p?call\(\s*['"]([A-Za-z]+)['"]"#)
        var used = Set<String>()
        for script in Self.scripts {
            let s = script.source
            for m in pattern.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
                used.insert(String(s[Range(m.range(at: 1), in: s)!]).uppercased())
            }
        }
        #expect(!used.isEmpty)
        let probed = Set(RedisACLProbe.commands.map(\.name))
        #expect(used.subtracting(probed).isEmpty, "commands the scripts call but the ACL probe does not try: \(used.subtracting(probed).sorted())")
    }

    /// The cluster client's own commands are in the documented ACL, so
    /// `documentedMinimalACLIsEnoughAndEachCommandIsNeeded` checks that the start-up probe
    /// notices each of them missing (and RedisClusterTests runs a cluster under that ACL).
    @Test func documentedACLHasTheClusterCommands() throws {
        let acl = try RedisMisconfigurationTests.documentedACL()
        #expect(acl.contains("+cluster|slots") && acl.contains("+asking"), "\(acl)")
    }

    @Test func redisErrorTextsMapToTheirCodes() {
        let cases: [(String, RedisErrorClass)] = [
            ("NOPERM this user has no permissions to run the 'evalsha' command", .misconfigured(.aclDenied)),
            ("ERR The user executing the script can't run this command or subcommand script: 99, on @user_script:1.", .misconfigured(.aclDenied)),
            ("WRONGPASS invalid username-password pair or user is disabled.", .misconfigured(.authFailed)),
            ("NOAUTH Authentication required.", .misconfigured(.authRequired)),
            ("ERR unknown command 'EVALSHA', with args beginning with: 'abc' '0' ", .misconfigured(.unknownCommand)),
            ("MOVED 3999 127.0.0.1:6381", .misconfigured(.clusterMode)),
            ("ASK 3999 127.0.0.1:6381", .misconfigured(.clusterMode)),
            ("OOM command not allowed when used memory > 'maxmemory'. script: db8d, on @user_script:1.", .misconfigured(.outOfMemory)),
            ("READONLY You can't write against a read only replica.", .misconfigured(.isReplica)),
            ("LOADING Redis is loading the dataset in memory", .unavailable),
            ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", .unavailable),
            ("NOSCRIPT No matching script. Please use EVAL.", .answer),
        ]
        for (text, expected) in cases { #expect(RedisErrorClass.of(text) == expected, "\(text)") }
        // Under Cluster MOVED and ASK are redirections the router follows; CROSSSLOT stays a
        // setup error (every script's keys share one hash tag).
        #expect(RedisErrorClass.of("MOVED 3999 127.0.0.1:6381", inCluster: true) == .answer)
        #expect(RedisErrorClass.of("ASK 3999 127.0.0.1:6381", inCluster: true) == .answer)
        #expect(RedisErrorClass.of("CROSSSLOT Keys in request don't hash to the same slot", inCluster: true) == .misconfigured(.clusterMode))
        #expect(RedisErrorClass.of("TRYAGAIN Multiple keys request during rehashing of slot", inCluster: true) == .unavailable)
        // Under Sentinel a demoted master is a failover in progress, not a setup error.
        #expect(RedisErrorClass.of("READONLY You can't write against a read only replica.", followsFailover: true) == .unavailable)
    }
}
