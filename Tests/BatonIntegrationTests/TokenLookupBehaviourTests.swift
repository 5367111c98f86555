import BatonCore
import BatonPostgres
import BatonTestSupport
import Testing

/// One token look-up suite, run against the in-memory Jellyfin tables and against
/// JellyfinTokenDirectory over Tests/Fixtures/jellyfin-schema.sql on a real PostgreSQL.
@Suite struct TokenLookupBehaviourTests {
    static let kinds = ["fake", "postgres"]

    /// The seeding operations both directories offer.
    struct Seeded {
        let directory: any TokenDirectory
        let addUser: (String, Bool, Bool) throws -> String
        let addDevice: (String, String) throws -> String
        let addApiKey: (String) throws -> String
        let keep: AnyObject?
    }

    func make(_ kind: String) throws -> Seeded {
        if kind == "fake" {
            let d = InMemoryJellyfinDirectory()
            return Seeded(directory: d, addUser: { d.addUser($0, admin: $1, disabled: $2) },
                          addDevice: { d.addDevice(userId: $0, deviceId: $1) }, addApiKey: { d.addApiKey($0) }, keep: nil)
        }
        let db = try PostgresDatabase()
        let d = try JellyfinTokenDirectory(db: PerThreadPostgres(settings: PostgresSettings(url: db.url)), schema: db.schema)
        return Seeded(directory: d, addUser: { try db.addUser($0, admin: $1, disabled: $2) },
                      addDevice: { try db.addDevice(userId: $0, deviceId: $1) }, addApiKey: { try db.addApiKey($0) }, keep: db)
    }

    @Test(arguments: kinds) func devicesKeysAndFlags(_ kind: String) throws {
        let s = try make(kind)
        let alice = try s.addUser("alice", false, false)
        let root = try s.addUser("root", true, false)
        let gone = try s.addUser("gone", false, true)
        let aliceToken = try s.addDevice(alice, "phone")
        let rootToken = try s.addDevice(root, "laptop")
        let goneToken = try s.addDevice(gone, "tv")
        let key = try s.addApiKey("backup")

        let a = try #require(try s.directory.owner(of: aliceToken), "\(kind)")
        #expect(a == TokenOwner(kind: .device, userId: alice, userName: "alice", isAdmin: false, isDisabled: false, deviceId: "phone",
                                deviceName: "Firefox", appName: "Jellyfin Web", appVersion: "10.11.0"), "\(kind)")
        #expect(try s.directory.owner(of: rootToken)?.isAdmin == true, "\(kind)")
        #expect(try s.directory.owner(of: goneToken)?.isDisabled == true, "\(kind)")
        #expect(try s.directory.owner(of: key) == TokenOwner(kind: .apiKey, userId: nil, userName: nil, isAdmin: true, isDisabled: false,
                                                             apiKeyName: "backup"), "\(kind)")
        // Exact, case-sensitive matches only; a NUL does not look up the prefix.
        #expect(try s.directory.owner(of: aliceToken.uppercased()) == nil, "\(kind)")
        #expect(try s.directory.owner(of: String(aliceToken.dropLast())) == nil, "\(kind)")
        #expect(try s.directory.owner(of: aliceToken + "\u{0}x") == nil, "\(kind)")
        #expect(try s.directory.owner(of: "") == nil, "\(kind)")
        withExtendedLifetime(s.keep) {}
    }
}
