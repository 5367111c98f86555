import BatonHTTP
import BatonSupport
import Testing

/// ``JSONOutput`` writes the hot path's answers through a pointer; each of its writes must
/// give the bytes the array-based writers give (which the JSON answers were checked against).
@Suite struct JSONOutputTests {
    func written(_ write: (inout JSONOutput) -> Void) -> [UInt8] {
        JSONOutput.bytes(capacity: 4_096, write)
    }

    @Test func stringsAreEscapedAsJSONValueEscapesThem() {
        var samples = ["", "plain", "quote\"back\\slash", "tab\tnew\nline\rcr", "\u{7F}del", "é ünï 😀", "a\u{0}b\u{1F}c"]
        samples.append(String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self))
        for s in samples {
            var expected: [UInt8] = []
            JSONValue.writeString(s, into: &expected)
            #expect(written { $0.string(s) } == expected, "\(s.debugDescription)")
            // The room a string is given is enough for its worst case.
            #expect(expected.count <= JSONOutput.room(for: s))
        }
        #expect(written { $0.string(nil as String?) } == Array("null".utf8))
    }

    @Test func integersAreWhatStringWrites() {
        for v: Int64 in [0, 7, -1, 42, 30_000, 1_796_167_009_961_000, .max, .min, .min + 1] {
            #expect(written { $0.int(v) } == Array(String(v).utf8))
            #expect(String(v).utf8.count <= JSONOutput.intRoom)
        }
        #expect(written { $0.int(nil as Int64?) } == Array("null".utf8))
    }

    @Test func timestampsAreQuotedRFC3339() {
        for ms: Int64 in [0, 1_796_167_009_961, 253_402_300_799_999, 253_402_300_800_000, -1, 1_000_000_000_000_000, -1_000_000_000_000_000] {
            var expected: [UInt8] = [0x22]
            Timestamp.append(ms: ms, to: &expected)
            expected.append(0x22)
            #expect(written { $0.timestamp(ms: ms) } == expected, "\(ms)")
            #expect(expected.count <= JSONOutput.timestampRoom)
        }
    }

    @Test func piecesFollowOneAnother() {
        let bytes = written { out in
            out.literal(#"{"a":"#)
            out.int(Int64(1))
            out.literal(#","b":"#)
            out.string("x\"y")
            out.literal("}")
        }
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"a":1,"b":"x\"y"}"#)
    }
}
