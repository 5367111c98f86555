@testable import BatonHTTP
import Testing

@Suite struct RequestIdTests {
    /// Made ids: 16 lower-case hex digits, the same whichever way they are read, distinct.
    @Test func madeIdsAreSixteenHexDigitsReadAlike() {
        var seen = Set<String>()
        for _ in 0..<1_000 {
            let id = RequestId.next()
            let text = id.text
            #expect(text.utf8.count == 16 && text.allSatisfy { "0123456789abcdef".contains($0) })
            #expect(id.withCString { String(cString: $0) } == text)
            seen.insert(text)
        }
        #expect(seen.count == 1_000)
        #expect(RequestId.made(0x0123_4567_89ab_cdef).text == "0123456789abcdef")
    }

    @Test func givenIdsPassThrough() {
        let id = RequestId.given("req-7")
        #expect(id.text == "req-7")
        #expect(id.withCString { String(cString: $0) } == "req-7")
        #expect(HTTPRequest(method: "GET", path: "/", requestId: "abc").requestId == "abc")
    }
}
