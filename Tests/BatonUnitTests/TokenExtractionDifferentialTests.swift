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

    /// One generated request: the Baton-side request and Jellyfin's token under each mode.
    struct Sample: Sendable {
        let c: TokenRequestGenerator.Case
        let request: HTTPRequest
        let jellyfin: [String?]
    }

    /// Generated and judged by the oracle once, for the three modes at a time (generating
    /// and the oracle are most of the cost), in chunks on every core: each chunk has its own
    /// seed, so the set is the same whatever the scheduling.
    static let samples: [Sample] = {
        let chunks = 8
        let perChunk = requestsPerMode / chunks
        let versions = modes.map(\.jellyfin)
        let done = Mutex<[Int: [Sample]]>([:])
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var generator = TokenRequestGenerator(seed: 19 &+ UInt64(chunk) &* 0x9E37_79B9, valid: "0123456789abcdef0123456789abcdef",
                                                  revoked: "fedcba9876543210fedcba9876543210", wire: false)
            let part = (0..<perChunk).map { _ in
                let c = generator.next()
                let answers = JellyfinAuthorizationOracle.tokens(c.oracleRequest, versions).map { $0.flatMap { $0.isEmpty ? nil : $0 } }
                return Sample(c: c, request: batonRequest(c), jellyfin: answers)
            }
            done.withLock { $0[chunk] = part }
        }
        return done.withLock { d in (0..<chunks).flatMap { d[$0]! } }
    }()

    /// The request batond's HTTP layer would build for `c` (names lowercased, first value of
    /// a repeated header in `headers`, every line in `fields`).
    static func batonRequest(_ c: TokenRequestGenerator.Case) -> HTTPRequest {
        let fields = c.batonHeaders.map { ($0.0.lowercased(), $0.1) }
        var first: [String: String] = [:]
        for (n, v) in fields where first[n] == nil { first[n] = v }
        return HTTPRequest(method: "GET", path: "/sessions/validate", headers: first, fields: fields, queryString: c.batonQuery)
    }

    @Test(arguments: modes) func agreesWithJellyfinOnEveryRequest(mode: Mode) {
        let extractor = TokenExtractor(rules: mode.rules)
        var disagreements = 0
        var examples: [String] = []
        var tokensSeen = 0
        let index = Self.modes.firstIndex { $0.rules == mode.rules }!
        for sample in Self.samples {
            let c = sample.c
            let jellyfin = sample.jellyfin[index]
            let baton = extractor.token(in: sample.request, bodyToken: nil)
            if jellyfin != nil { tokensSeen += 1 }
            if baton != jellyfin {
                disagreements += 1
                if examples.count < 5 { examples.append("Jellyfin \(jellyfin.debugDescription), Baton \(baton.debugDescription): \(c)") }
            }
        }
        #expect(disagreements == 0, "\(disagreements) of \(Self.requestsPerMode) requests disagree:\n\(examples.joined(separator: "\n"))")
        // The generator must exercise both outcomes, or the comparison proves little.
        #expect(tokensSeen > Self.requestsPerMode / 4 && tokensSeen < Self.requestsPerMode * 99 / 100, "\(tokensSeen) with a token")
    }
}
