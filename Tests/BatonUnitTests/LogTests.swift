import BatonCore
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
