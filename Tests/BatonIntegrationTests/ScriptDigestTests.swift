@testable import BatonRedis
import BatonTestSupport
import Testing

/// Every script runs by EVALSHA first: a wrong digest would not fail a request (NOSCRIPT
/// falls back to EVAL), it would silently send every script body on every call. So the
/// digest is checked against the one Redis itself computes for the source.
@Suite struct ScriptDigestTests {
    static let scripts: [LuaScript] = [
        LeaseScripts.acquire, LeaseScripts.renew, LeaseScripts.release, LeaseScripts.state,
        TaskScripts.claim, TaskScripts.extend, TaskScripts.complete, TaskScripts.state, VoidScripts.claim,
    ]

    @Test func eachScriptsDigestIsTheOneScriptLoadReturns() throws {
        let redis = try RedisProcess()
        let connection = PerThreadRedis(endpoint: try RedisEndpoint(url: redis.url)).connection
        for script in Self.scripts {
            let reply = try connection.command(["SCRIPT", "LOAD", script.source])
            #expect(reply.string == script.sha, "\(script.name)")
        }
        // And the digest of input whose padding crosses a block boundary (55, 56, 64 bytes).
        for n in [0, 1, 55, 56, 63, 64, 65, 1_000] {
            let source = "return '" + String(repeating: "x", count: n) + "'"
            #expect(try connection.command(["SCRIPT", "LOAD", source]).string == SHA1.hex(source), "\(n)")
        }
    }
}
