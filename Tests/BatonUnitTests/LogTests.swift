import BatonCore
import BatonSupport
import BatonTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct LogTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func sink() -> @Sendable ([UInt8]) -> Void { { bytes in self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } } }
    }

    let clock = ManualClock()  // 2027-01-15T08:00:00.000Z

    @Test func jsonLinesAreValidJSONWithEveryFieldTyped() throws {
        let out = Lines()
        let log = Log(level: .info, format: .json, clock: clock, sink: out.sink())
        log.info("request \"served\"\n", ["path": "/leader\\x", "status": 200, "duration_ms": .double(1.23456),
                                          "cached": .bool(false), "odd": .string("tab\tbell\u{07}é✓")])
        log.debug("not shown")
        let lines = out.all
        #expect(lines.count == 1 && lines[0].hasSuffix("}\n") && lines[0].filter { $0 == "\n" }.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(json["ts"] as? String == Timestamp.rfc3339(ms: clock.wallMs()) && json["level"] as? String == "info")
        #expect(json["msg"] as? String == "request \"served\"\n" && json["path"] as? String == "/leader\\x")
        #expect(json["status"] as? Int == 200 && json["cached"] as? Bool == false && json["odd"] as? String == "tab\tbell\u{07}é✓")
        #expect(lines[0].contains(#""duration_ms":1.235,"#))
    }

    @Test func durationsPrintWithThreeDecimalsAsPrintfWould() {
        let out = Lines()
        let log = Log(level: .info, format: .json, clock: clock, sink: out.sink())
        let values = [0.0, 0.0004, 1.0, 12.3456, 999.9996, -0.5, -2.25, 123_456.789]
        for d in values { log.info("d", ["d": .double(d)]) }
        log.info("d", ["d": .double(.nan)])
        let lines = out.all
        for (d, line) in zip(values, lines) {
            #expect(line.hasSuffix(#""d":\#(String(format: "%.3f", d))}"# + "\n"), "\(d): \(line)")
        }
        #expect(lines.last?.hasSuffix(#""d":null}"# + "\n") == true)
    }

    @Test func textLinesQuoteOnlyWhatNeedsIt() {
        let out = Lines()
        let log = Log(level: .debug, format: .text, clock: clock, sink: out.sink())
        log.warn("redis unavailable", ["error": "connection refused", "port": 6379, "empty": ""])
        #expect(out.all == ["\(Timestamp.rfc3339(ms: clock.wallMs())) WARN redis unavailable error=\"connection refused\" port=6379 empty=\"\"\n"])
    }

    /// Issue 15, item 8: `GET /x%0A2026-…%09ERROR…` forged a second line, because only values
    /// with a space were quoted and the path is logged percent-decoded.
    @Test func textValuesThatAreNotPlainASCIIAreQuotedAndEscaped() {
        let out = Lines()
        let log = Log(level: .debug, format: .text, clock: clock, sink: out.sink())
        let forged = "/x\n2026-12-01T00:00:00.000Z\tERROR\rforged"
        log.info("request", ["method": "GET", "path": .string(forged), "q": "a\"b", "b": "back\\slash", "bell": "\u{07}",
                             "del": "\u{7F}", "c1": "\u{85}", "ls": "x\u{2028}y", "utf8": "é", "eq": "a=b"])
        log.info("message with\na break", [:])
        let lines = out.all
        #expect(lines.count == 2 && lines.allSatisfy { $0.filter { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }.count == 1 })
        let ts = Timestamp.rfc3339(ms: clock.wallMs())
        #expect(lines[0] == #"\#(ts) INFO request method=GET path="/x\n2026-12-01T00:00:00.000Z\tERROR\rforged" q="a\"b" b="back\\slash" bell="\u0007" del="\u007f" c1="\u0085" ls="x\u2028y" utf8="é" eq=a=b"# + "\n")
        #expect(lines[1] == "\(ts) INFO message with\\na break\n")
        for line in lines { #expect(!line.dropLast().unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" }) }
    }

    @Test func jsonEscapesLineSeparatorsToo() throws {
        let out = Lines()
        Log(level: .info, format: .json, clock: clock, sink: out.sink()).info("m", ["v": "a\u{2028}b\u{85}c\u{C2}é✓"])
        #expect(out.all[0].contains(#""v":"a\u2028b\u0085cÂé✓""#), "\(out.all[0])")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.all[0].utf8)) as? [String: Any])
        #expect(json["v"] as? String == "a\u{2028}b\u{85}c\u{C2}é✓")
    }

    @Test func aLimiterLetsAFewLinesThroughPerWindowAndCountsTheRest() {
        let limiter = LogLimiter(limit: 2, windowMs: 60_000, clock: clock)
        #expect(limiter.admit() == 0 && limiter.admit() == 0)
        #expect(limiter.admit() == nil && limiter.admit() == nil && limiter.admit() == nil)
        clock.advance(ms: 59_999)
        #expect(limiter.admit() == nil)
        clock.advance(ms: 1)
        #expect(limiter.admit() == 4, "the first line of a new window says how many were left out")
        #expect(limiter.admit() == 0 && limiter.admit() == nil)
    }
}
