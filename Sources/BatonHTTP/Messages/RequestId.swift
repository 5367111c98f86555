import Synchronization

/// A request's id: the client's `X-Request-Id` when it is well-formed, else one made here.
///
/// A made id is 64 random-looking bits, spelled as 16 hex digits only when something reads
/// it: a 16-byte `String` is a heap allocation (a small string holds 15), and on the hot
/// path only the `X-Request-Id` answer header reads it, which is written from the stack
/// (issue 17: about 700 instructions per request).
public enum RequestId: Sendable, Equatable {
    case given(String)
    case made(UInt64)

    /// The next made id: SplitMix64 over a counter that starts at a random seed. Distinct
    /// for 2^64 requests, and no getrandom(2) per request.
    static func next() -> RequestId {
        var z = counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return .made(z)
    }

    private static let counter = Atomic<UInt64>({ var g = SystemRandomNumberGenerator(); return g.next() }())

    /// The id as text.
    public var text: String {
        switch self {
        case .given(let s): return s
        case .made: return withCString { String(cString: $0) }
        }
    }

    /// Calls `body` with the id as a C string (a made one is spelled on the stack).
    public func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        switch self {
        case .given(let s):
            return s.withCString(body)
        case .made(let bits):
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
            return withUnsafeMutableBytes(of: &digits) { raw in
                let p = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                for i in 0..<16 {
                    let nibble = UInt8(truncatingIfNeeded: bits >> UInt64(60 - 4 * i)) & 0xF
                    p[i] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble  // 0-9, a-f
                }
                p[16] = 0
                return body(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
            }
        }
    }
}
