import Synchronization

/// Answers "is this Jellyfin token valid, and whose is it?" for any replica.
///
/// Positive answers are cached briefly (keyed by the token's SHA-256, never the token)
/// so an ingress calling on every request does not hit the database each time; negative
/// answers are never cached, so a token minted a moment ago on another replica validates
/// at once. A database failure is ``Verdict/unavailable`` — never "invalid".
public final class SessionValidator: Sendable {
    public enum Verdict: Sendable, Equatable {
        case valid(TokenOwner)
        case invalid(Reason)
        case unavailable(retryAfterMs: Int)
    }

    public enum Reason: String, Sendable {
        case missingToken = "missing_token"
        case unknownToken = "unknown_token"
        case userDisabled = "user_disabled"
    }

    private struct Entry {
        let owner: TokenOwner
        let expiresAtMs: Int64
    }

    private let directory: any TokenDirectory
    private let breaker: CircuitBreaker
    private let cacheTTLMs: Int64
    private let maxEntries: Int
    private let clock: any Clock
    private let cache = Mutex<[SHA256.Digest: Entry]>([:])

    public init(directory: any TokenDirectory, breaker: CircuitBreaker, cacheTTLMs: Int64 = 5_000,
                maxEntries: Int = 10_000, clock: any Clock = SystemClock()) {
        self.directory = directory
        self.breaker = breaker
        self.cacheTTLMs = cacheTTLMs
        self.maxEntries = maxEntries
        self.clock = clock
    }

    /// Validates `token` (nil when the request carried none). A token with a control
    /// character (NUL included) is never looked up: no Jellyfin token has one, and a C API on
    /// the way to the database would cut the string at a NUL and judge a different token.
    public func validate(_ token: String?) -> Verdict {
        guard let token, !token.isEmpty else { return .invalid(.missingToken) }
        if Self.hasControlCharacter(token) { return .invalid(.unknownToken) }
        let key = SHA256.hash(Array(token.utf8))
        let now = clock.monotonicMs()
        if cacheTTLMs > 0, let hit = cache.withLock({ $0[key] }), hit.expiresAtMs > now {
            return .valid(hit.owner)
        }
        switch breaker.run({ () throws(BackendError) in try directory.owner(of: token) }) {
        case .success(nil):
            return .invalid(.unknownToken)
        case .success(let owner?):
            if owner.isDisabled { return .invalid(.userDisabled) }
            remember(key, owner, now: now)
            return .valid(owner)
        case .failure, .rejected:
            return .unavailable(retryAfterMs: Int(max(1_000, breaker.cooldownMs)))
        }
    }

    /// C0 controls, DEL and C1 controls (Unicode general category Cc).
    public static func hasControlCharacter(_ token: String) -> Bool {
        token.utf8.contains { $0 < 0x20 || $0 == 0x7F } || token.unicodeScalars.contains { $0.value >= 0x80 && $0.value <= 0x9F }
    }

    private func remember(_ key: SHA256.Digest, _ owner: TokenOwner, now: Int64) {
        guard cacheTTLMs > 0 else { return }
        cache.withLock { c in
            if c.count >= maxEntries {
                c = c.filter { $0.value.expiresAtMs > now }
                if c.count >= maxEntries { c.removeAll(keepingCapacity: true) }
            }
            c[key] = Entry(owner: owner, expiresAtMs: now + cacheTTLMs)
        }
    }
}
