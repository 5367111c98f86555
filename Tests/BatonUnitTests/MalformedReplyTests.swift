import BatonCore
@testable import BatonPostgres
@testable import BatonRedis
import Testing

/// Replies from a socket are data: a reply of the wrong shape must be a protocol error
/// (an answer the breaker and the route can deal with), never a crash. The replies are
/// built by hand at the seam where the stores decode them.
@Suite struct MalformedReplyTests {
    let tenure: [RedisReply] = [.bulk(Array("pod-a".utf8)), .integer(7), .integer(1_000), .integer(10_000), .integer(9_000)]

    func isProtocolError<T>(_ body: () throws -> T) -> Bool {
        do { _ = try body(); return false } catch { return (error as? BackendError)?.kind == .protocolError }
    }

    @Test func wellFormedLeaseRepliesDecode() throws {
        let t = try #require(try LeaseReplies.state(.array([.integer(1)] + tenure)))
        #expect(t.holder.value == "pod-a" && t.fencingToken == FencingToken(7) && t.expiresInMs == 9_000)
        #expect(try LeaseReplies.acquire(.array([.integer(3), .integer(250)])) == .recovering(retryAfterMs: 250))
        #expect(try LeaseReplies.acquire(.array([.integer(1)] + tenure + [.bulk(Array("pod-b".utf8))]))
            == .acquired(t, previousHolder: Holder("pod-b")))
        #expect(try LeaseReplies.renew(.array([.integer(0)])) == .notHeld(nil))
        #expect(try LeaseReplies.release(.array([.integer(2)])) == .vacant)
        #expect(try LeaseReplies.state(.array([.integer(0)])) == nil)
    }

    /// Each code that promises a tenure, answered without one (what `tenure!` crashed on).
    @Test func aCodeWithoutItsTenureIsAProtocolError() {
        #expect(isProtocolError { try LeaseReplies.acquire(.array([.integer(1)])) })
        #expect(isProtocolError { try LeaseReplies.acquire(.array([.integer(2)])) })
        #expect(isProtocolError { try LeaseReplies.acquire(.array([.integer(0)])) })
        #expect(isProtocolError { try LeaseReplies.renew(.array([.integer(1)])) })
        #expect(isProtocolError { try LeaseReplies.release(.array([.integer(1)])) })
        #expect(isProtocolError { try LeaseReplies.release(.array([.integer(0)])) })
        #expect(isProtocolError { try LeaseReplies.state(.array([.integer(1)])) })
    }

    @Test func wrongShapesAndUnknownCodesAreProtocolErrors() {
        let malformed: [RedisReply] = [
            .null, .status("OK"), .integer(1), .bulk([]), .array([]), .array([.bulk(Array("x".utf8))]),
            .array([.integer(9)] + tenure),                                   // unknown code
            .array([.integer(1), .bulk(Array("pod-a".utf8)), .integer(7)]),   // cut short
            .array([.integer(1), .bulk(Array("bad name!".utf8))] + tenure.dropFirst()),
            .array([.integer(1), .bulk(Array("pod-a".utf8)), .bulk(Array("seven".utf8))] + tenure.dropFirst(2)),
            .array([.integer(1), .bulk(Array("pod-a".utf8)), .integer(7), .null, .integer(1), .integer(1)]),
        ]
        for reply in malformed {
            #expect(isProtocolError { try LeaseReplies.acquire(reply) }, "acquire \(reply)")
            #expect(isProtocolError { try LeaseReplies.renew(reply) }, "renew \(reply)")
            #expect(isProtocolError { try LeaseReplies.release(reply) }, "release \(reply)")
            #expect(isProtocolError { try LeaseReplies.state(reply) }, "state \(reply)")
        }
    }

    @Test func postgresRowsOfTheWrongWidthAreProtocolErrors() {
        let short = PostgresRows(columns: ["run_id", "task"], rows: [["5c1d0f3e-0000-4000-8000-000000000001", "scan"]], affected: 0)
        #expect(isProtocolError { try PostgresHistory.runs(short) })
        #expect(isProtocolError { try PostgresHistory.tenures(short) })
        #expect(isProtocolError { try short.rows(width: 11, of: "token owner") })
        // One column short of what `run(_:)` reads (`external` is the 12th): an error, not an index trap.
        let eleven: [String?] = ["5c1d0f3e-0000-4000-8000-000000000001", "scan", nil, "pod-a", "3", "1000", nil,
                                 "running", nil, "normal", "f"]
        #expect(isProtocolError { try PostgresHistory.runs(PostgresRows(columns: (0..<11).map { "c\($0)" }, rows: [eleven], affected: 0)) })
    }

    @Test func postgresRowsThatDoNotParseAreProtocolErrorsNotDroppedRuns() throws {
        let good: [String?] = ["5c1d0f3e-0000-4000-8000-000000000001", "scan", nil, "pod-a", "3", "1000", nil,
                               "running", nil, "normal", "f", "f"]
        var bad = good
        bad[7] = "exploded"  // a status this version does not know
        let columns = (0..<12).map { "c\($0)" }
        let runs = try PostgresHistory.runs(PostgresRows(columns: columns, rows: [good], affected: 0))
        #expect(runs.count == 1 && runs[0].status == .running && runs[0].fencingToken == FencingToken(3))
        #expect(isProtocolError { try PostgresHistory.runs(PostgresRows(columns: columns, rows: [good, bad], affected: 0)) })
        let tenure: [String?] = ["scheduler", "not-a-number", "pod-a", "1000", "10000", nil, nil]
        #expect(isProtocolError { try PostgresHistory.tenures(PostgresRows(columns: columns, rows: [tenure], affected: 0)) })
    }
}
