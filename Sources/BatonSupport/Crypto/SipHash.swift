/// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein; the reference is
/// github.com/veorq/SipHash, whose `vectors_sip128` the tests check): a keyed hash that
/// is a pseudo-random function for whoever does not know the key.
///
/// Data-independent in time: only additions, rotations and XORs, no branch or table
/// look-up on the message bytes or the key; the running time depends on the message's
/// length only.
public struct SipHash128: Sendable {
    let k0: UInt64, k1: UInt64

    /// The 16-byte key as two little-endian words.
    public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// A fresh random key (from the system's CSPRNG).
    public static func random() -> SipHash128 {
        var g = SystemRandomNumberGenerator()
        return SipHash128(k0: g.next(), k1: g.next())
    }

    /// The 128-bit tag of `message`, as (first 8 bytes, last 8 bytes) read little-endian.
    public func tag(_ message: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var v0 = k0 ^ 0x736f_6d65_7073_6575
        var v1 = k1 ^ 0x646f_7261_6e64_6f6d ^ 0xee
        var v2 = k0 ^ 0x6c79_6765_6e65_7261
        var v3 = k1 ^ 0x7465_6462_7974_6573
        @inline(__always) func round() {
            v0 &+= v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 &+= v3; v3 = rotl(v3, 16); v3 ^= v2
            v0 &+= v3; v3 = rotl(v3, 21); v3 ^= v0
            v2 &+= v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        }
        let n = message.count
        let whole = n & ~7
        var i = 0
        while i < whole {
            let m = UInt64(littleEndian: message.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            v3 ^= m
            round(); round()
            v0 ^= m
            i += 8
        }
        var last = UInt64(truncatingIfNeeded: n) << 56
        var shift: UInt64 = 0
        while i < n {
            last |= UInt64(message[i]) << shift
            shift += 8
            i += 1
        }
        v3 ^= last
        round(); round()
        v0 ^= last
        v2 ^= 0xee
        round(); round(); round(); round()
        let first = v0 ^ v1 ^ v2 ^ v3
        v1 ^= 0xdd
        round(); round(); round(); round()
        return (first, v0 ^ v1 ^ v2 ^ v3)
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }
}
