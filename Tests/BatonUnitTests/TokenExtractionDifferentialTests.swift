import BatonAPI
import BatonHTTP
import BatonTestSupport
import Foundation
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

    /// Generated once and shared by the three modes (generation is a third of the cost).
    static let cases: [(TokenRequestGenerator.Case, HTTPRequest)] = {
        var generator = TokenRequestGenerator(seed: 19, valid: "0123456789abcdef0123456789abcdef",
                                              revoked: "fedcba9876543210fedcba9876543210", wire: false)
        return (0..<requestsPerMode).map { _ in
            let c = generator.next()
            return (c, batonRequest(c))
        }
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
        for (c, request) in Self.cases {
            let jellyfin = JellyfinAuthorizationOracle.token(c.oracleRequest, mode.jellyfin).flatMap { $0.isEmpty ? nil : $0 }
            let baton = extractor.token(in: request, bodyToken: nil)
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
