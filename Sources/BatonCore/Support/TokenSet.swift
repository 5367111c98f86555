/// A set of API tokens checked in constant time. Each candidate is compared against
/// every configured token (no early exit), so timing reveals neither which nor how much.
public struct TokenSet: Sendable {
    /// Digests only: the tokens themselves are not kept (SessionTicket keys on these).
    let digests: [SHA256.Digest]
    /// - Parameter tokens: the accepted tokens; empty entries are ignored.
    public init(_ tokens: [String]) {
        digests = tokens.filter { !$0.isEmpty }.map { SHA256.hash(Array($0.utf8)) }
    }
    public var isEmpty: Bool { digests.isEmpty }
    public var count: Int { digests.count }
    /// Whether `candidate` is one of the tokens.
    public func contains(_ candidate: String) -> Bool {
        // Comparing fixed-length digests keeps the comparison independent of the length too;
        // XOR and OR over the four words, no early exit, no branch on the bytes.
        let d = SHA256.hash(Array(candidate.utf8)).words
        var found: UInt64 = 0
        for t in digests {
            let w = t.words
            let diff = (w.0 ^ d.0) | (w.1 ^ d.1) | (w.2 ^ d.2) | (w.3 ^ d.3)
            // 1 when diff is 0: (diff | -diff) has its top bit set for any non-zero diff.
            found |= 1 &- ((diff | (0 &- diff)) >> 63)
        }
        return found != 0
    }
}
