import BatonHTTP
import Testing

/// Jellyfin asks `string.IsNullOrEmpty` of a header's values joined with `,` (ASP.NET
/// `StringValues`); batond answers it without joining (``HTTPRequest/hasNonEmptyJoinedHeader(_:)``).
/// Both must agree for every count of fields, empty or not.
@Suite struct HeaderJoinTests {
    @Test func agreesWithJoining() {
        let values = ["", "MediaBrowser Token=\"t\"", " ", ","]
        var cases: [[String]] = [[]]
        for _ in 0..<3 { cases += cases.filter { $0.count < 3 }.flatMap { c in values.map { c + [$0] } } }
        var seen = Set<[String]>()
        for c in cases where seen.insert(c).inserted {
            let request = HTTPRequest(method: "GET", path: "/", fields: [("x-other", "v")] + c.map { ("authorization", $0) })
            let joined = request.joinedHeader("authorization")
            #expect(request.hasNonEmptyJoinedHeader("authorization") == (joined.map { !$0.isEmpty } ?? false), "\(c)")
        }
        #expect(seen.count == 1 + 4 + 16 + 64)
        #expect(!HTTPRequest(method: "GET", path: "/", fields: [("authorization", "")]).hasNonEmptyJoinedHeader("Authorization"))
        #expect(HTTPRequest(method: "GET", path: "/", fields: [("authorization", ""), ("authorization", "")]).hasNonEmptyJoinedHeader("Authorization"))
    }
}
