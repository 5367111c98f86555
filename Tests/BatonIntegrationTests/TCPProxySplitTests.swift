import BatonTestSupport
import Foundation
import Testing

/// batond behind a TCP proxy that for 3 s routes new connections to both the old master
/// (hung, then resumed: it still takes writes) and the promoted replica, real redis-servers
/// on loopback, 4 worker threads, 6 holders on two leases (chaos/proxy.py, one round,
/// about 20 s). Before the fix the checker found 41 violations in such a round: overlapping
/// normal tenures up to 2.99 s and fencing tokens going backwards.
@Suite(.serialized) struct TCPProxySplitTests {
    @Test func workersNeverGrantFromTwoMastersBehindAProxy() throws {
        let r = try TestEnvironment.runChaosScript("proxy.py", ["run"])
        // safety.py's checker (no overlapping normal tenures, tokens never backwards) and
        // every normal 200 names a tenure in baton.lease_tenures.
        #expect(r.status == 0 && r.output.contains("violations=0"), "\(r.output)")
        // The proxy did send connections to both servers, or the case was not exercised.
        let routed = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("proxy: routed {") }, "\(r.output)")
        #expect(routed.split(separator: ":").count >= 4, "\(routed)")
        // The cost stays bounded: a normal grant again within the split, the hang and one TTL.
        let round = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("round 0:") }, "\(r.output)")
        let until = round.split(separator: " ").first { $0.hasPrefix("until_normal_grant_s=") }.flatMap { Double($0.split(separator: "=")[1]) }
        #expect((until ?? 99) <= 1 + 3 + 3 + 2.5, "\(round)")
    }
}
