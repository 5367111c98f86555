import Foundation

/// A fresh database on the test PostgreSQL server (one per test suite), with Jellyfin's
/// auth tables in `schema` built from Tests/Fixtures/jellyfin-schema.sql.
public final class PostgresDatabase: Sendable {
    public let name: String
    public let url: String
    public let schema: String
    private let adminURL: String

    public init(schema: String = "public", jellyfinTables: Bool = true) throws {
        guard let admin = TestEnvironment.postgresURL else {
            throw TestSetupError("BATON_TEST_DATABASE_URL is not set: run the tests through ./scripts/test, which starts PostgreSQL")
        }
        adminURL = admin
        name = "baton_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        self.schema = schema
        guard let slash = admin.lastIndex(of: "/") else { throw TestSetupError("bad BATON_TEST_DATABASE_URL") }
        url = String(admin[...slash]) + name
        try Self.psql(admin, "CREATE DATABASE \(name)")
        if jellyfinTables {
            let fixture = TestEnvironment.root + "/Tests/Fixtures/jellyfin-schema.sql"
            if schema != "public" { try Self.psql(url, "CREATE SCHEMA \"\(schema)\"") }
            let r = try TestEnvironment.run("/usr/bin/env", ["PGOPTIONS=-c search_path=\"\(schema)\"", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                                             url, "-f", fixture])
            guard r.status == 0 else { throw TestSetupError("jellyfin fixture failed: \(r.output)") }
        }
    }

    /// Runs SQL as the superuser in this database (test set-up only).
    @discardableResult
    public func sql(_ text: String) throws -> String {
        try Self.psql(url, text, search: schema)
    }

    @discardableResult
    static func psql(_ url: String, _ text: String, search: String? = nil) throws -> String {
        var args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", text]
        if let search { args.insert("PGOPTIONS=-c search_path=\"\(search)\"", at: 0) }
        let r = try TestEnvironment.run("/usr/bin/env", args)
        guard r.status == 0 else { throw TestSetupError("psql failed: \(r.output)") }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Seeds a user; returns its id.
    @discardableResult
    public func addUser(_ name: String, admin: Bool = false, disabled: Bool = false) throws -> String {
        let id = UUID().uuidString.lowercased()
        try sql("""
        INSERT INTO "Users" ("Id", "Username", "MustUpdatePassword", "AuthenticationProviderId", "PasswordResetProviderId",
          "InvalidLoginAttemptCount", "MaxActiveSessions", "SubtitleMode", "PlayDefaultAudioTrack", "DisplayMissingEpisodes",
          "DisplayCollectionsView", "EnableLocalPassword", "HidePlayedInLatest", "RememberAudioSelections",
          "RememberSubtitleSelections", "EnableNextEpisodeAutoPlay", "EnableAutoLogin", "EnableUserPreferenceAccess",
          "InternalId", "SyncPlayAccess", "RowVersion", "NormalizedUsername")
        VALUES ('\(id)', '\(name)', false, 'p', 'p', 0, 0, 0, true, false, false, false, false, true, true, true, false, true,
          (SELECT COALESCE(MAX("InternalId"), 0) + 1 FROM "Users"), 0, 0, upper('\(name)'))
        """)
        if admin { try sql(#"INSERT INTO "Permissions" ("UserId", "Kind", "Value", "RowVersion") VALUES ('\#(id)', 0, true, 0)"#) }
        if disabled { try sql(#"INSERT INTO "Permissions" ("UserId", "Kind", "Value", "RowVersion") VALUES ('\#(id)', 2, true, 0)"#) }
        return id
    }

    /// Seeds a device login for `userId`; returns its 32-hex token.
    @discardableResult
    public func addDevice(userId: String, deviceId: String = "dev-1", deviceName: String = "Firefox",
                          appName: String = "Jellyfin Web", appVersion: String = "10.11.0", active: Bool = false) throws -> String {
        let token = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try sql("""
        INSERT INTO "Devices" ("UserId", "AccessToken", "AppName", "AppVersion", "DeviceName", "DeviceId", "IsActive",
          "DateCreated", "DateModified", "DateLastActivity")
        VALUES ('\(userId)', '\(token)', '\(appName)', '\(appVersion)', '\(deviceName)', '\(deviceId)', \(active), now(), now(), now())
        """)
        return token
    }

    /// Seeds an API key; returns its token.
    @discardableResult
    public func addApiKey(_ name: String) throws -> String {
        let token = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try sql(#"INSERT INTO "ApiKeys" ("DateCreated", "DateLastActivity", "Name", "AccessToken") VALUES (now(), now(), '\#(name)', '\#(token)')"#)
        return token
    }
}
