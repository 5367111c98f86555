import BatonTestSupport
import Foundation
import Testing

/// /sessions/validate against Jellyfin's real tables in PostgreSQL.
@Suite struct SessionHTTPTests {
    final class Seeded: @unchecked Sendable {
        // @unchecked: written once in init, read-only afterwards.
        let stack: Stack
        let userId: String
        let userToken: String
        let adminToken: String
        let disabledToken: String
        let apiKey: String

        init(extra: [String: String] = [:], schema: String = "public") throws {
            let db = try PostgresDatabase(schema: schema)
            userId = try db.addUser("alice")
            userToken = try db.addDevice(userId: userId, deviceId: "alice-phone", deviceName: "Pixel", appName: "Jellyfin Android", appVersion: "2.6.1")
            adminToken = try db.addDevice(userId: try db.addUser("root", admin: true), deviceId: "root-web")
            disabledToken = try db.addDevice(userId: try db.addUser("mallory", disabled: true))
            apiKey = try db.addApiKey("automation")
            var env = extra
            env["BATON_JELLYFIN_SCHEMA"] = schema
            stack = try Stack(extra: env, database: db)
        }

        var client: HTTPClient { stack.client }
    }

    @Test func everyTokenFormValidates() throws {
        let s = try Seeded()
        let c = s.client
        let t = s.userToken
        let forms: [(String, HTTPClient.Response)] = [
            ("POST body", try c.post("/sessions/validate", #"{"token":"\#(t)"}"#, auth: false)),
            ("Authorization MediaBrowser", try c.get("/sessions/validate", headers: [
                "Authorization": #"MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="abc", Version="10.11.0", Token="\#(t)""#], auth: false)),
            ("Authorization any order, spaces", try c.get("/sessions/validate", headers: [
                "Authorization": #"MediaBrowser   Token="\#(t)",  Client="x%20y""#], auth: false)),
            ("Emby scheme", try c.get("/sessions/validate", headers: ["Authorization": #"Emby Token="\#(t)""#], auth: false)),
            ("X-Emby-Authorization", try c.get("/sessions/validate", headers: ["X-Emby-Authorization": #"MediaBrowser Token="\#(t)""#], auth: false)),
            ("X-Emby-Token", try c.get("/sessions/validate", headers: ["X-Emby-Token": t], auth: false)),
            ("X-MediaBrowser-Token", try c.get("/sessions/validate", headers: ["X-MediaBrowser-Token": t], auth: false)),
            ("query api_key", try c.get("/sessions/validate?api_key=\(t)", auth: false)),
            ("query ApiKey", try c.get("/sessions/validate?ApiKey=\(t)", auth: false)),
            ("X-Forwarded-Uri api_key", try c.get("/sessions/validate", headers: ["X-Forwarded-Uri": "/Videos/x/stream.mp4?static=true&api_key=\(t)"], auth: false)),
            ("X-Forwarded-Uri ApiKey", try c.get("/sessions/validate", headers: ["X-Forwarded-Uri": "/Items?ApiKey=\(t)"], auth: false)),
        ]
        for (name, r) in forms {
            #expect(r.status == 200, "\(name): \(r)")
            #expect(r["valid"] as? Bool == true && r["user_name"] as? String == "alice", "\(name)")
        }
        let r = forms[0].1
        #expect(r["kind"] as? String == "device" && r["user_id"] as? String == s.userId && r["is_admin"] as? Bool == false)
        #expect(r["device_id"] as? String == "alice-phone" && r["device_name"] as? String == "Pixel")
        #expect(r["app_name"] as? String == "Jellyfin Android" && r["app_version"] as? String == "2.6.1")
        #expect(r.header("x-baton-user-id") == s.userId && r.header("x-baton-user-name") == "alice" && r.header("x-baton-is-admin") == "false")
        #expect(!s.stack.batond.log.contains(s.userToken), "tokens must never be logged")
    }

    @Test func outcomes() throws {
        let s = try Seeded()
        let c = s.client
        let admin = try c.get("/sessions/validate", headers: ["X-Emby-Token": s.adminToken], auth: false)
        #expect(admin.status == 200 && admin["is_admin"] as? Bool == true && admin.header("x-baton-is-admin") == "true")
        let key = try c.get("/sessions/validate?ApiKey=\(s.apiKey)", auth: false)
        #expect(key.status == 200 && key["kind"] as? String == "api_key" && key["is_admin"] as? Bool == true)
        #expect(key["api_key_name"] as? String == "automation" && key.json["user_id"] is NSNull)
        let disabled = try c.post("/sessions/validate", #"{"token":"\#(s.disabledToken)"}"#, auth: false)
        #expect(disabled.status == 401 && disabled["reason"] as? String == "user_disabled" && disabled["valid"] as? Bool == false)
        let unknown = try c.get("/sessions/validate", headers: ["X-Emby-Token": "00000000000000000000000000000000"], auth: false)
        #expect(unknown.status == 401 && unknown["reason"] as? String == "unknown_token" && unknown.isProblem)
        let missing = try c.get("/sessions/validate", auth: false)
        #expect(missing.status == 401 && missing["reason"] as? String == "missing_token")
        let emptyPost = try c.post("/sessions/validate", "", auth: false)
        #expect(emptyPost.status == 401 && emptyPost["reason"] as? String == "missing_token")
        let badJSON = try c.post("/sessions/validate", "{token", auth: false)
        #expect(badJSON.status == 400)
        let wrongField = try c.post("/sessions/validate", #"{"tok":"x"}"#, auth: false)
        #expect(wrongField.status == 400 && wrongField["field"] as? String == "tok")
    }

    @Test func legacyFormsAreRefusedWhenLegacyAuthIsOff() throws {
        let s = try Seeded(extra: ["BATON_LEGACY_AUTH": "false"])
        let c = s.client
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": s.userToken], auth: false).status == 401)
        #expect(try c.get("/sessions/validate?api_key=\(s.userToken)", auth: false).status == 401)
        #expect(try c.get("/sessions/validate", headers: ["Authorization": #"Emby Token="\#(s.userToken)""#], auth: false).status == 401)
        #expect(try c.get("/sessions/validate", headers: ["Authorization": #"MediaBrowser Token="\#(s.userToken)""#], auth: false).status == 200)
        #expect(try c.get("/sessions/validate?ApiKey=\(s.apiKey)", auth: false).status == 200)
    }

    @Test func aCustomSchemaWorks() throws {
        let s = try Seeded(schema: "jellyfin")
        #expect(try s.client.get("/sessions/validate", headers: ["X-Emby-Token": s.userToken], auth: false).status == 200)
    }

    @Test func aDisabledUserOrDeletedDeviceStopsValidatingWithinTheCacheWindow() throws {
        let s = try Seeded(extra: ["BATON_SESSION_CACHE_TTL_MS": "1000"])
        let c = s.client
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": s.userToken], auth: false).status == 200)
        try s.stack.database.sql(#"INSERT INTO "Permissions" ("UserId", "Kind", "Value", "RowVersion") VALUES ('\#(s.userId)', 2, true, 0)"#)
        // Within the window the cached answer may still say valid; after it, never.
        usleep(1_100_000)
        let after = try c.get("/sessions/validate", headers: ["X-Emby-Token": s.userToken], auth: false)
        #expect(after.status == 401 && after["reason"] as? String == "user_disabled")

        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": s.adminToken], auth: false).status == 200)
        try s.stack.database.sql(#"DELETE FROM "Devices" WHERE "AccessToken" = '\#(s.adminToken)'"#)  // logout
        let cached = try c.get("/sessions/validate", headers: ["X-Emby-Token": s.adminToken], auth: false)
        #expect(cached.status == 200, "positive answers are cached for BATON_SESSION_CACHE_TTL_MS")
        usleep(1_100_000)
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": s.adminToken], auth: false).status == 401)
    }

    @Test func aTokenMintedAMomentAgoValidatesAtOnce() throws {
        let s = try Seeded()
        let c = s.client
        let fresh = "feedfacefeedfacefeedfacefeedface"
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": fresh], auth: false).status == 401)
        try s.stack.database.sql("""
        INSERT INTO "Devices" ("UserId", "AccessToken", "AppName", "AppVersion", "DeviceName", "DeviceId", "IsActive",
          "DateCreated", "DateModified", "DateLastActivity")
        VALUES ('\(s.userId)', '\(fresh)', 'Web', '1', 'New', 'new-dev', false, now(), now(), now())
        """)
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": fresh], auth: false).status == 200)
    }

    @Test func databaseOutageIs503NeverAVerdict() throws {
        let pg = try PostgresServer()
        try pg.sql("CREATE DATABASE jf")
        let fixture = TestEnvironment.root + "/Tests/Fixtures/jellyfin-schema.sql"
        let load = try TestEnvironment.run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                                           "postgresql://postgres@127.0.0.1:\(pg.port)/jf", "-f", fixture])
        #expect(load.status == 0, "\(load.output)")
        let redis = try RedisProcess()
        let batond = try BatondProcess(redisURL: redis.url, databaseURL: "postgresql://postgres@127.0.0.1:\(pg.port)/jf",
                                       extra: ["BATON_SESSION_CACHE_TTL_MS": "0"])
        let c = batond.client()
        #expect(try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false).status == 401)
        try pg.stop()
        for _ in 0..<5 {
            let r = try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false)
            #expect(r.status == 503 && r.header("retry-after") != nil && r.isProblem, "\(r)")
        }
        // Coordination does not depend on PostgreSQL.
        #expect(try c.post("/leader", #"{"lease":"l","holder":"h"}"#).status == 200)
        try pg.start()
        #expect(try eventually(5) { try c.get("/sessions/validate", headers: ["X-Emby-Token": "abc"], auth: false).status == 401 })
    }

    @Test func aSlowDatabaseTimesOutTo503() throws {
        let s = try Seeded(extra: ["BATON_PG_TIMEOUT_MS": "200", "BATON_SESSION_CACHE_TTL_MS": "0"])
        // Hold a lock that the lookup's join needs, so the statement waits past its timeout.
        let locker = try Subprocess.spawn("/usr/bin/env", ["psql", "-X", "-q", s.stack.database.url, "-c",
                                                           #"BEGIN; LOCK TABLE "Users" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"#])
        defer { locker.signal(SIGKILL); locker.wait() }
        // Wait until the lock is held (psql may take a while to start on a loaded machine).
        #expect(try eventually(5) {
            try s.stack.database.sql("""
            SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE c.relname = 'Users' AND l.mode = 'AccessExclusiveLock' AND l.granted
            """) == "1"
        })
        let start = Date()
        let r = try s.client.get("/sessions/validate", headers: ["X-Emby-Token": s.userToken], auth: false)
        #expect(r.status == 503, "\(r)")
        #expect(Date().timeIntervalSince(start) < 2)
    }
}
