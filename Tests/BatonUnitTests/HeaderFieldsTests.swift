@testable import BatonHTTP
import Testing

/// Received header fields are kept as bytes: names lowercased, values as given, repeats
/// in order (Jellyfin's token rules read repeated headers), whatever their length.
@Suite struct HeaderFieldsTests {
    func received(_ fields: [(String, String)]) -> HeaderFields {
        var h = HeaderFields()
        for (name, value) in fields {
            Array(name.utf8).withUnsafeBufferPointer { n in
                Array(value.utf8).withUnsafeBufferPointer { v in h.appendReceived(name: n, value: v) }
            }
        }
        return h
    }

    func all(_ h: HeaderFields, _ name: String) -> [String] {
        var values: [String] = []
        h.forEach(named: name) { values.append(String(decoding: $0, as: UTF8.self)); return true }
        return values
    }

    @Test func namesAreLowercasedAndValuesKept() {
        let long = String(repeating: "v", count: 300)  // past the stack-formed fields
        let h = received([("X-Request-Id", "Ab-9"), ("AUTHORIZATION", "Bearer T0k"), ("x-emby-token", long),
                          ("Authorization", "second"), ("Ünï-Name", "x"), ("Empty", ""), ("Mixed-CASE-\(long)", "y")])
        #expect(h.count == 7)
        #expect(h.first("x-request-id") == "Ab-9")
        #expect(all(h, "authorization") == ["Bearer T0k", "second"])
        #expect(h.first("x-emby-token") == long)
        #expect(h.first("ünï-name") == "x")
        #expect(h.first("empty") == "")
        #expect(h.first("mixed-case-\(long)") == "y")
        #expect(h.first("X-Request-Id") == nil)  // names are looked up as stored: lowercase
    }
}
