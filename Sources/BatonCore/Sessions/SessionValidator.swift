public import BatonSupport
import Synchronization

/// Answers "is this Jellyfin token valid, and whose is it?" for any replica.
///
/// Positive answers are cached briefly (keyed by the token's SipHash-2-4-128 tag under a
/// key drawn per process, never the token) so an ingress calling on every request does
/// not hit the database each time; negative
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

    /// A token's tag. Why SipHash and not SHA-256: this is every cached validation's cost
    /// (SHA-256 was 6,974 of 73,110 instructions per request, callgrind, issue 17). A tag
    /// under a secret random key reveals no more than a digest, and another token with the
    /// same 128-bit tag — the only way to be answered with someone else's owner — cannot be
    /// searched for without the key (as for the bearer tokens, see `TokenSet`).
    private struct CacheKey: Hashable {
        let high: UInt64, low: UInt64
    }

    private let directory: any TokenDirectory
    private let breaker: CircuitBreaker
    private let cacheTTLMs: Int64
    private let maxEntries: Int
    private let clock: any Clock
    private let cache = Mutex<[CacheKey: Entry]>([:])
    private let tagKey = SipHash128.random()

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
        var text = token
        let key = text.withUTF8 { bytes in
            let (high, low) = tagKey.tag(UnsafeRawBufferPointer(bytes))
            return CacheKey(high: high, low: low)
        }
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
    /// One pass over the contiguous UTF-8 (a `String` is valid UTF-8, in which U+0080 …
    /// U+009F are exactly `C2 80` … `C2 9F`); the two generic passes over the views cost
    /// ~1,700 instructions of every validation (callgrind, issue 17).
    public static func hasControlCharacter(_ token: String) -> Bool {
        var token = token
        return token.withUTF8 { b in
            var previous: UInt8 = 0
            for c in b {
                if c < 0x20 || c == 0x7F || (previous == 0xC2 && c >= 0x80 && c <= 0x9F) { return true }
                previous = c
            }
            return false
        }
    }

    private func remember(_ key: CacheKey, _ owner: TokenOwner, now: Int64) {
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
