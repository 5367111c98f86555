public import BatonCore
public import BatonSupport

/// Looks Jellyfin tokens up in Jellyfin's own tables, the way Jellyfin's authentication
/// does: `Devices.AccessToken` first, then `ApiKeys.AccessToken`. Admin and disabled
/// flags come from `Permissions` (Kind 0 IsAdministrator, Kind 2 IsDisabled; a missing
/// row is false). API keys act as administrator. `Devices.IsActive` is not consulted,
/// because Jellyfin does not consult it either.
public struct JellyfinTokenDirectory: TokenDirectory {
    private let db: PerThreadPostgres
    private let sql: String

    /// - Parameter schema: where Jellyfin's tables live (`BATON_JELLYFIN_SCHEMA`); must
    ///   be a plain identifier, since identifiers cannot be query parameters.
    public init(db: PerThreadPostgres, schema: String) throws(ConfigurationError) {
        guard Self.isPlainIdentifier(schema) else {
            throw ConfigurationError("schema name must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$")
        }
        self.db = db
        let s = "\"\(schema)\""
        // One round trip: the device row if any, else the API key row.
        sql = """
        SELECT * FROM (
          SELECT 0 AS rank, 'device' AS kind, d."UserId"::text, u."Username", d."DeviceId", d."DeviceName",
                 d."AppName", d."AppVersion", NULL::text AS key_name,
                 EXISTS (SELECT 1 FROM \(s)."Permissions" p WHERE p."UserId" = d."UserId" AND p."Kind" = 0 AND p."Value") AS admin,
                 EXISTS (SELECT 1 FROM \(s)."Permissions" p WHERE p."UserId" = d."UserId" AND p."Kind" = 2 AND p."Value") AS disabled
          FROM \(s)."Devices" d JOIN \(s)."Users" u ON u."Id" = d."UserId"
          WHERE d."AccessToken" = $1
          UNION ALL
          SELECT 1, 'api_key', NULL, NULL, NULL, NULL, NULL, NULL, k."Name", true, false
          FROM \(s)."ApiKeys" k WHERE k."AccessToken" = $1
        ) found ORDER BY rank LIMIT 1
        """
    }

    public func owner(of token: String) throws(BackendError) -> TokenOwner? {
        // libpq takes C strings: a NUL would cut the token and look up its prefix.
        guard !token.utf8.contains(0) else { return nil }
        let rows = try wrap { try db.connection.query(sql, [token]) }.rows(width: 11, of: "token owner")
        guard let row = rows.first else { return nil }
        let kind: TokenOwner.Kind = row[1] == "api_key" ? .apiKey : .device
        return TokenOwner(kind: kind, userId: row[2], userName: row[3], isAdmin: row[9] == "t", isDisabled: row[10] == "t",
                          deviceId: row[4], deviceName: row[5], appName: row[6], appVersion: row[7], apiKeyName: row[8])
    }

    static func isPlainIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, s.utf8.count <= 63 else { return false }
        let isLetter = { (b: UInt8) in (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        return isLetter(first) && s.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
