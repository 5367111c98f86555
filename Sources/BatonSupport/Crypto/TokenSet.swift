/// A set of API tokens checked in constant time. Each candidate is compared against
/// every configured token (no early exit), so timing reveals neither which nor how much.
///
/// The comparison is of 128-bit SipHash-2-4 tags under a key drawn at random when the set
/// is made, not of the tokens: the tags have one length whatever the token's, the time to
/// make one depends only on the candidate's length (which the caller chose), and without
/// the key a tag says nothing about the token, so even a leak in the comparison would not
/// help guess one. Until issue 17 this was a SHA-256 of the candidate per request (7,076
/// instructions of a 9,333-instruction check; SipHash: a few hundred, callgrind). A
/// collision needs the secret key: a guess is accepted by chance with probability 2^-128
/// per token, as with a truncated SHA-256.
public struct TokenSet: Sendable {
    /// SHA-256 digests of the tokens, the keys of the incident page's tickets (SessionTicket);
    /// the tokens themselves are not kept.
    let digests: [SHA256.Digest]
    /// The process's random key, and each token's tag under it.
    private let key: SipHash128
    private let tags: [(UInt64, UInt64)]

    /// - Parameter tokens: the accepted tokens; empty entries are ignored.
    public init(_ tokens: [String]) {
        let kept = tokens.filter { !$0.isEmpty }
        let key = SipHash128.random()
        self.key = key
        digests = kept.map { SHA256.hash(Array($0.utf8)) }
        tags = kept.map { token in Array(token.utf8).withUnsafeBytes { key.tag($0) } }
    }
    public var isEmpty: Bool { digests.isEmpty }
    public var count: Int { digests.count }
    /// Whether `candidate` is one of the tokens.
    public func contains(_ candidate: String) -> Bool {
        var candidate = candidate
        return candidate.withUTF8 { contains(UnsafeRawBufferPointer($0)) }
    }

    /// Whether the token whose UTF-8 bytes are `candidate` is one of the tokens.
    public func contains(_ candidate: UnsafeRawBufferPointer) -> Bool {
        let t = key.tag(candidate)
        var found: UInt64 = 0
        for tag in tags {
            // XOR and OR over the two words, no early exit, no branch on the bytes.
            let diff = (tag.0 ^ t.0) | (tag.1 ^ t.1)
            // 1 when diff is 0: (diff | -diff) has its top bit set for any non-zero diff.
            found |= 1 &- ((diff | (0 &- diff)) >> 63)
        }
        return found != 0
    }
}
