import BatonAPI
import BatonHTTP
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// Baton's TokenExtractor against a port of Jellyfin's own extraction
/// (``JellyfinAuthorizationOracle``, ported from AuthorizationContext.cs and the ASP.NET code
/// it calls) on seeded random requests mixing a valid and a revoked token in every place
/// Jellyfin reads one. Any disagreement is a request where the gate and Jellyfin judge
/// different tokens: a revoked token let through, or a good request locked out.
@Suite struct TokenExtractionDifferentialTests {
    struct Mode: Sendable, CustomTestStringConvertible {
        let rules: AuthorizationRules
        let jellyfin: JellyfinAuthorizationOracle.Version
        var testDescription: String { "BATON_LEGACY_AUTH=\(rules.rawValue) vs Jellyfin \(jellyfin)" }
    }

    static let modes = [
        Mode(rules: .jellyfin10_10, jellyfin: .v10_10),
        Mode(rules: .legacy, jellyfin: .v10_11(legacy: true)),
        Mode(rules: .modern, jellyfin: .v10_11(legacy: false)),
    ]

    static let requestsPerMode = 100_000

    /// What one mode's comparison found.
    struct Tally: Sendable {
        var disagreements = 0
        var withToken = 0
        var examples: [String] = []
    }

    /// The request batond's HTTP layer would build for `c` (names lowercased, first value of
    /// a repeated header in `headers`, every line in `fields`).
    static func batonRequest(_ c: TokenRequestGenerator.Case) -> HTTPRequest {
        let fields = c.batonHeaders.map { ($0.0.lowercased(), $0.1) }
        var first: [String: String] = [:]
        for (n, v) in fields where first[n] == nil { first[n] = v }
        return HTTPRequest(method: "GET", path: "/sessions/validate", headers: first, fields: fields, queryString: c.batonQuery)
    }

    /// Every request is generated once, judged by the oracle for the three modes at a time
    /// (generation and the oracle are most of the cost) and by Baton's three extractors, in
    /// seeded chunks on every core (each chunk its own seed: the same requests whatever the
    /// scheduling), nothing kept but the tallies.
    @Test func agreesWithJellyfinOnEveryRequest() {
        let chunks = 8
        let perChunk = Self.requestsPerMode / chunks
        let versions = Self.modes.map(\.jellyfin)
        let extractors = Self.modes.map { TokenExtractor(rules: $0.rules) }
        let tallies = Mutex([Tally](repeating: Tally(), count: Self.modes.count))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var generator = TokenRequestGenerator(seed: 19 &+ UInt64(chunk) &* 0x9E37_79B9, valid: "0123456789abcdef0123456789abcdef",
                                                  revoked: "fedcba9876543210fedcba9876543210", wire: false)
            var local = [Tally](repeating: Tally(), count: Self.modes.count)
            for _ in 0..<perChunk {
                let c = generator.next()
                let request = Self.batonRequest(c)
                let jellyfin = JellyfinAuthorizationOracle.tokens(c.oracleRequest, versions)
                for m in local.indices {
                    let expected = jellyfin[m].flatMap { $0.isEmpty ? nil : $0 }
                    let baton = extractors[m].token(in: request, bodyToken: nil)
                    if expected != nil { local[m].withToken += 1 }
                    if baton != expected {
                        local[m].disagreements += 1
                        if local[m].examples.count < 3 {
                            local[m].examples.append("Jellyfin \(expected.debugDescription), Baton \(baton.debugDescription): \(c)")
                        }
                    }
                }
            }
            tallies.withLock { t in
                for m in t.indices {
                    t[m].disagreements += local[m].disagreements
                    t[m].withToken += local[m].withToken
                    t[m].examples += local[m].examples
                }
            }
        }
        let n = perChunk * chunks
        #expect(n >= 100_000)
        for (mode, tally) in zip(Self.modes, tallies.withLock { $0 }) {
            #expect(tally.disagreements == 0,
                    "\(mode.testDescription): \(tally.disagreements) of \(n) requests disagree:\n\(tally.examples.prefix(5).joined(separator: "\n"))")
            // The generator must exercise both outcomes, or the comparison proves little.
            #expect(tally.withToken > n / 4 && tally.withToken < n * 99 / 100, "\(mode.testDescription): \(tally.withToken) with a token")
        }
    }
}
