import BatonTestSupport
import Foundation
import Testing

/// A sample of the differential test's requests sent over the wire to a real batond with
/// Jellyfin's tables in PostgreSQL: the answer must be 200 exactly when Jellyfin (the
/// oracle, ported from its source) would act on the valid token, 401 otherwise.
@Suite struct TokenExtractionLiveTests {
    static let perMode = 150

    @Test(arguments: [("true", JellyfinAuthorizationOracle.Version.v10_11(legacy: true)),
                      ("false", .v10_11(legacy: false)), ("10.10", .v10_10)])
    func batondJudgesTheTokenJellyfinReads(legacyAuth: String, jellyfin: JellyfinAuthorizationOracle.Version) throws {
        let db = try PostgresDatabase()
        let user = try db.addUser("alice")
        let valid = try db.addDevice(userId: user, deviceId: "alice-tv")
        let revoked = try db.addDevice(userId: user, deviceId: "alice-old")
        try db.sql(#"DELETE FROM "Devices" WHERE "AccessToken" = '\#(revoked)'"#)  // logged out
        let stack = try Stack(extra: ["BATON_LEGACY_AUTH": legacyAuth, "BATON_SESSION_CACHE_TTL_MS": "60000"], database: db)
        // Logged just after the server starts: /healthz (which Stack waits for) may answer first.
        #expect(eventually(5) { stack.batond.log.contains("legacy_auth") }, "the start-up log names the rules in force")

        var generator = TokenRequestGenerator(seed: 1919, valid: valid, revoked: revoked, wire: true)
        var wrong: [String] = []
        var accepted = 0
        for k in 0..<Self.perMode {
            let c = generator.next()
            let expected = JellyfinAuthorizationOracle.token(c.oracleRequest, jellyfin) == valid ? 200 : 401
            var head = "GET /sessions/validate" + (c.batonQuery.isEmpty ? "" : "?" + c.batonQuery) + " HTTP/1.1\r\nHost: baton\r\n"
            // Blanks around a value are not part of it (both HTTP servers strip them): send some.
            let pad = [("", ""), (" ", ""), ("", " \t"), ("\t", "  ")][k % 4]
            for (name, value) in c.batonHeaders { head += "\(name):\(pad.0) \(value)\(pad.1)\r\n" }
            let r = try stack.client.raw(Array((head + "\r\n").utf8))
            if r.status == 200 { accepted += 1 }
            if r.status != expected, wrong.count < 5 { wrong.append("expected \(expected), got \(r.status): \(c)") }
            if r.status != expected && wrong.count >= 5 { break }
        }
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
        #expect(accepted > 0 && accepted < Self.perMode, "the sample must hold both outcomes (\(accepted) accepted)")
        #expect(!stack.batond.log.contains(valid) && !stack.batond.log.contains(revoked), "tokens must never be logged")
    }

    /// Issue 19's cases over the wire: each used to answer 200 for a token Jellyfin does not act on.
    @Test func theReportedBypassesAreClosed() throws {
        let db = try PostgresDatabase()
        let user = try db.addUser("bob")
        let a = try db.addDevice(userId: user, deviceId: "bob-web")
        let r = "0badc0de0badc0de0badc0de0badc0de"
        let stack = try Stack(database: db)
        let c = stack.client
        func get(_ target: String, _ headers: [(String, String)]) throws -> HTTPClient.Response {
            var head = "GET \(target) HTTP/1.1\r\nHost: baton\r\n"
            for (n, v) in headers { head += "\(n): \(v)\r\n" }
            return try c.raw(Array((head + "\r\n").utf8))
        }
        #expect(try get("/sessions/validate", [("Authorization", #"MediaBrowser Token="\#(a)", Token="\#(r)""#)]).status == 401)
        #expect(try get("/sessions/validate", [("Authorization", #"MediaBrowser token="\#(a)""#), ("X-Emby-Token", r)]).status == 401)
        #expect(try get("/sessions/validate", [("Authorization", "Basic Zm9v"), ("X-Emby-Authorization", #"MediaBrowser Token="\#(a)""#),
                                               ("X-Emby-Token", r)]).status == 401)
        #expect(try get("/sessions/validate", [("X-Forwarded-Uri", "/Items?apikey=\(r)&api_key=\(a)")]).status == 401)
        #expect(try get("/sessions/validate?api_key=\(a)%00junk", []).status == 401)
        #expect(try get("/sessions/validate", [("Authorization", #"MediaBrowser Token="\#(a)%00x""#)]).status == 401)
        let body = try c.post("/sessions/validate", #"{"token":"\#(a)\u0000junk"}"#, auth: false)
        #expect(body.status == 400 && body["field"] as? String == "token")
        // Repeated headers are joined, as ASP.NET does: no token matches.
        #expect(try get("/sessions/validate", [("X-Emby-Token", a), ("X-Emby-Token", a)]).status == 401)
        // The forms Jellyfin does act on still pass; blanks around a value are not part of it.
        #expect(try get("/sessions/validate", [("X-Emby-Token", a + " \t ")]).status == 200)
        #expect(try get("/sessions/validate", [("Authorization", #"MediaBrowser Token="\#(r)", Token="\#(a)""#)]).status == 200)
        #expect(try get("/sessions/validate", [("X-Original-URL", "https://jf.example/Videos/abc/stream.mkv?static=true&api_key=\(a)")]).status == 200)
        #expect(try get("/sessions/validate?APIKEY=\(a)", []).status == 200)
    }
}
