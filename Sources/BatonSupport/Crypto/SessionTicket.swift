/// The value of the incident page's session cookie: `v1.<expiry>.<tag>`, where the tag is
/// HMAC-SHA256 keyed by the SHA-256 digest of one accepted bearer token over the expiry.
///
/// Why not the raw token: the cookie then never carries a credential that works on the
/// API (a stolen cookie reads the page until it expires, it cannot take leases); it
/// expires on its own; and it needs no server-side state, so every batond replica that
/// has the same tokens accepts it, across restarts. Removing a token from the set revokes
/// every session made with it.
public enum SessionTicket {
    private static let prefix = "v1"

    /// A ticket for `token` valid until `expiresAtSeconds` (Unix time).
    public static func issue(token: String, expiresAtSeconds: Int64) -> String {
        let key = SHA256.hash(Array(token.utf8)).bytes
        return "\(prefix).\(expiresAtSeconds).\(hex(tag(key: key, expiry: expiresAtSeconds)))"
    }

    /// Whether `ticket` was issued for one of `tokens` and is still valid at `nowSeconds`.
    /// Tickets claiming to live longer than `maxAgeSeconds` from now are refused (so a
    /// tampered expiry cannot extend one: the tag covers it anyway). Every token's tag is
    /// computed and compared in full, whatever matches.
    public static func verify(_ ticket: String, tokens: TokenSet, nowSeconds: Int64, maxAgeSeconds: Int64) -> Bool {
        let parts = ticket.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == prefix, parts[1].utf8.count <= 12, let expiry = Int64(parts[1]),
              expiry > nowSeconds, expiry <= nowSeconds + maxAgeSeconds,
              let given = unhex(parts[2]), given.count == 32 else { return false }
        var found = false
        for digest in tokens.digests {
            let ok = HMACSHA256.equal(tag(key: digest.bytes, expiry: expiry), given)
            found = found || ok
        }
        return found
    }

    private static func tag(key: [UInt8], expiry: Int64) -> [UInt8] {
        HMACSHA256.tag(key: key, message: Array("baton-ui-session|\(prefix)|\(expiry)".utf8))
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unhex(_ s: Substring) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
