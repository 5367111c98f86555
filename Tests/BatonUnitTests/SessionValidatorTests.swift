import BatonCore
import BatonSupport
import BatonTestSupport
import Synchronization
import Testing

final class FakeDirectory: TokenDirectory {
    let owners = Mutex<[String: TokenOwner]>([:])
    let failing = Mutex(false)
    let lookups = Mutex(0)
    func owner(of token: String) throws(BackendError) -> TokenOwner? {
        lookups.withLock { $0 += 1 }
        if failing.withLock({ $0 }) { throw BackendError(.timeout, "db down") }
        return owners.withLock { $0[token] }
    }
}

@Suite struct SessionValidatorTests {
    let clock = ManualClock()
    let directory = FakeDirectory()
    let alice = TokenOwner(kind: .device, userId: "u1", userName: "alice", isAdmin: false, isDisabled: false, deviceId: "d1")

    func validator(ttl: Int64 = 5_000) -> SessionValidator {
        SessionValidator(directory: directory, breaker: CircuitBreaker(backend: .postgres, threshold: 3, cooldownMs: 1_000, clock: clock),
                         cacheTTLMs: ttl, clock: clock)
    }

    @Test func missingUnknownDisabledAndValid() {
        let v = validator()
        directory.owners.withLock {
            $0["good"] = alice
            $0["off"] = TokenOwner(kind: .device, userId: "u2", userName: "bob", isAdmin: false, isDisabled: true)
        }
        #expect(v.validate(nil) == .invalid(.missingToken))
        #expect(v.validate("") == .invalid(.missingToken))
        #expect(v.validate("nope") == .invalid(.unknownToken))
        #expect(v.validate("off") == .invalid(.userDisabled))
        #expect(v.validate("good") == .valid(alice))
    }

    @Test func positiveAnswersAreCachedForTheWindowOnly() {
        let v = validator(ttl: 5_000)
        directory.owners.withLock { $0["good"] = alice }
        _ = v.validate("good")
        directory.owners.withLock { $0["good"] = nil }  // logged out
        #expect(v.validate("good") == .valid(alice))
        #expect(directory.lookups.withLock { $0 } == 1)
        clock.advance(ms: 5_000)
        #expect(v.validate("good") == .invalid(.unknownToken))
    }

    /// The cache is keyed by the whole token: tokens one byte apart, one a prefix of the
    /// other, each keep their own owner once cached, and an uncached neighbour is looked up.
    @Test func cachedAnswersBelongToTheirOwnToken() {
        let v = validator(ttl: 5_000)
        let tokens = ["0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdee", "0123456789abcdef0123456789abcde"]
        let owners = tokens.indices.map { i in
            TokenOwner(kind: .device, userId: "u\(i)", userName: "user\(i)", isAdmin: false, isDisabled: false, deviceId: "d\(i)")
        }
        directory.owners.withLock { for (t, o) in zip(tokens, owners) { $0[t] = o } }
        for (t, o) in zip(tokens, owners) { #expect(v.validate(t) == .valid(o)) }
        directory.owners.withLock { $0.removeAll() }  // answered from the cache from here on
        for (t, o) in zip(tokens, owners) { #expect(v.validate(t) == .valid(o)) }
        #expect(v.validate("0123456789abcdef0123456789abcdeg") == .invalid(.unknownToken))
        #expect(directory.lookups.withLock { $0 } == 4)
    }

    @Test func negativeAnswersAreNotCached() {
        let v = validator()
        #expect(v.validate("new") == .invalid(.unknownToken))
        directory.owners.withLock { $0["new"] = alice }  // minted on another replica
        #expect(v.validate("new") == .valid(alice))
    }

    @Test func databaseFailureIsUnavailableNeverInvalid() {
        let v = validator()
        directory.failing.withLock { $0 = true }
        for _ in 0..<5 {
            guard case .unavailable = v.validate("anything") else { Issue.record("outage gave a verdict"); return }
        }
    }
}

@Suite struct DigestAndTokenTests {
    @Test func sha256MatchesStandardVectors() {
        #expect(SHA256.hash([]).description == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)).description == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hash(Array(long.utf8)).description == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hash(Array(repeating: UInt8(ascii: "a"), count: 1_000)).description
            == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func tokenSetAcceptsOnlyConfiguredTokens() {
        let set = TokenSet(["alpha-token-000000000", "beta-token-1111111111", ""])
        #expect(set.count == 2)
        #expect(set.contains("alpha-token-000000000"))
        #expect(set.contains("beta-token-1111111111"))
        #expect(!set.contains("alpha-token-00000000"))
        #expect(!set.contains(""))
        #expect(!set.contains("alpha-token-0000000000"))
        #expect(!set.contains("alpha-token-000000001"))  // one bit off in the last byte
        #expect(TokenSet([]).contains("anything") == false)
        // Whole 8-byte words only, and bytes beyond ASCII.
        let other = TokenSet(["0123456789abcdef", "jeton-clé-ünïcødé"])
        #expect(other.contains("0123456789abcdef") && other.contains("jeton-clé-ünïcødé"))
        #expect(!other.contains("0123456789abcdeF") && !other.contains("jeton-cle-ünïcødé") && !other.contains("0123456789abcde"))
    }
}

@Suite struct NamesAndTimeTests {
    @Test(arguments: ["a", "scheduler", "Jellyfin.RefreshLibrary:v2", "x-1_2", String(repeating: "a", count: 128)])
    func acceptsResourceNames(_ s: String) { #expect(LeaseName(s) != nil && TaskName(s) != nil) }

    @Test(arguments: ["", "-lead", ".x", "a b", "a/b", "a{b}", "é", String(repeating: "a", count: 129), "a\n"])
    func rejectsResourceNames(_ s: String) { #expect(LeaseName(s) == nil) }

    @Test func holdersAllowPodStyleNames() {
        #expect(Holder("jellyfin-0.jellyfin.media.svc@node/1") != nil)
        #expect(Holder(String(repeating: "h", count: 253)) != nil)
        #expect(Holder(String(repeating: "h", count: 254)) == nil)
        #expect(Holder("/root") == nil)
    }

    @Test func slotsRejectControlCharactersAndLength() {
        #expect(Slot("2026-11-27T03:00:00Z") != nil)
        #expect(Slot("") == nil)
        #expect(Slot("a\u{7}") == nil)
        #expect(Slot(String(repeating: "s", count: 129)) == nil)
    }

    @Test func rfc3339() {
        #expect(Timestamp.rfc3339(ms: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.rfc3339(ms: 1_795_741_323_456) == "2026-11-27T01:02:03.456Z")
        #expect(Timestamp.rfc3339(ms: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.rfc3339(ms: -1) == "1969-12-31T23:59:59.999Z")
    }
}

/// A directory that reads its key as a C string, as a look-up through libpq does.
final class CStringDirectory: TokenDirectory {
    let owner: TokenOwner
    let lookups = Mutex(0)
    init(owner: TokenOwner) { self.owner = owner }
    func owner(of token: String) throws(BackendError) -> TokenOwner? {
        lookups.withLock { $0 += 1 }
        return String(token.prefix { $0 != "\u{0}" }) == "good" ? owner : nil
    }
}

@Suite struct SessionValidatorControlCharacterTests {
    @Test func aTokenWithAControlCharacterIsNeverLookedUp() {
        let clock = ManualClock()
        let alice = TokenOwner(kind: .device, userId: "u1", userName: "alice", isAdmin: false, isDisabled: false)
        let directory = CStringDirectory(owner: alice)
        let v = SessionValidator(directory: directory, breaker: CircuitBreaker(backend: .postgres, threshold: 3, cooldownMs: 1_000, clock: clock),
                                 cacheTTLMs: 5_000, clock: clock)
        #expect(v.validate("good") == .valid(alice))  // cached now
        for bad in ["good\u{0}junk", "good\u{0}", "good\u{1}", "good\u{7F}", "good\u{85}", "\u{0}good", "go\nod"] {
            #expect(v.validate(bad) == .invalid(.unknownToken), "\(bad.debugDescription)")
        }
        #expect(directory.lookups.withLock { $0 } == 1, "only the clean token reached the directory")
    }
}
