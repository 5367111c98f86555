/// Compares two secrets in time that depends only on their lengths, not on where they
/// first differ, so response timing does not reveal a token byte by byte.
public func constantTimeEquals(_ a: some Sequence<UInt8>, _ b: some Sequence<UInt8>) -> Bool {
    let x = Array(a), y = Array(b)
    var diff = UInt8(truncatingIfNeeded: x.count ^ y.count)
    for i in 0..<max(x.count, y.count) {
        let p = i < x.count ? x[i] : 0
        let q = i < y.count ? y[i] : 0
        diff |= p ^ q
    }
    return diff == 0 && x.count == y.count
}

/// A set of API tokens checked in constant time. Each candidate is compared against
/// every configured token (no early exit), so timing reveals neither which nor how much.
public struct TokenSet: Sendable {
    private let digests: [SHA256.Digest]
    /// - Parameter tokens: the accepted tokens; empty entries are ignored.
    public init(_ tokens: [String]) {
        digests = tokens.filter { !$0.isEmpty }.map { SHA256.hash(Array($0.utf8)) }
    }
    public var isEmpty: Bool { digests.isEmpty }
    public var count: Int { digests.count }
    /// Whether `candidate` is one of the tokens.
    public func contains(_ candidate: String) -> Bool {
        // Comparing fixed-length digests keeps the comparison independent of the length too.
        let d = SHA256.hash(Array(candidate.utf8)).bytes
        var found = false
        for t in digests { found = constantTimeEquals(t.bytes, d) || found }
        return found
    }
}
