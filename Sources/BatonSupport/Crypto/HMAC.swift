/// HMAC-SHA256 (RFC 2104), for session values derived from a token without storing it.
public enum HMACSHA256 {
    /// The 32-byte tag of `message` under `key`.
    public static func tag(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? SHA256.hash(key).bytes : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = SHA256.hash(k.map { $0 ^ 0x36 } + message).bytes
        return SHA256.hash(k.map { $0 ^ 0x5c } + inner).bytes
    }

    /// Compares two byte strings without an early exit on the first difference.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
