import CHiredis
@testable import BatonRedis
import Testing

/// batond has hiredis build replies in a reusable block (CHiredis' shim) instead of its
/// default calloc per element. Whatever the reply, the objects must read exactly as the
/// default ones: the same RESP fed to a reader of each kind gives the same replies.
@Suite struct ReplyArenaTests {
    /// The replies `resp` holds, read by a default reader or by one building in an arena
    /// (reset after each reply, as RedisConnection does).
    func replies(_ resp: String, arena: Bool) -> [RedisReply] {
        guard let reader = redisReaderCreate() else { return [] }
        defer { redisReaderFree(reader) }
        let block = arena ? baton_arena_new(64) : nil
        defer { baton_arena_free(block) }
        if let block { baton_arena_install_reader(reader, block) }
        let bytes = Array(resp.utf8)
        _ = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
        }
        var out: [RedisReply] = []
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK, let raw else { break }
            out.append(RedisConnection.copy(raw.assumingMemoryBound(to: redisReply.self)))
            if let block { baton_arena_reset(block) } else { freeReplyObject(raw) }
        }
        return out
    }

    @Test func everyKindOfReplyReadsAsTheDefaultOnes() {
        let big = String(repeating: "x", count: 40_000)  // past the 16 KiB blocks of a large reply
        let resp = "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
            + "*6\r\n:2\r\n$12\r\nbench-holder\r\n:1796167009961000\r\n:1796167009961\r\n:30000\r\n:30000\r\n"
            + "*3\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n:1\r\n+x\r\n"
            + "$\(big.utf8.count)\r\n\(big)\r\n"
            + "*2\r\n$\(big.utf8.count)\r\n\(big)\r\n$\(big.utf8.count)\r\n\(big)\r\n"
            + "*2\r\n:1\r\n:2\r\n"
        let expected = replies(resp, arena: false)
        #expect(expected.count == 14)
        #expect(replies(resp, arena: true) == expected)
        #expect(expected[9] == .array([.integer(2), .bulk(Array("bench-holder".utf8)), .integer(1_796_167_009_961_000),
                                       .integer(1_796_167_009_961), .integer(30_000), .integer(30_000)]))
    }

    /// A reply whose bytes arrive in pieces is built across several reads.
    @Test func aReplyFedInPiecesIsTheSame() {
        let resp = "*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n$3\r\nabc\r\n:9\r\n"
        for cut in 1..<resp.utf8.count {
            guard let reader = redisReaderCreate(), let block = baton_arena_new(64) else { return }
            baton_arena_install_reader(reader, block)
            let bytes = Array(resp.utf8)
            var got: RedisReply?
            for piece in [bytes[..<cut], bytes[cut...]] {
                _ = Array(piece).withUnsafeBufferPointer { b in
                    b.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
                }
                var raw: UnsafeMutableRawPointer?
                if redisReaderGetReply(reader, &raw) == REDIS_OK, let raw {
                    got = RedisConnection.copy(raw.assumingMemoryBound(to: redisReply.self))
                }
            }
            redisReaderFree(reader)
            baton_arena_free(block)
            #expect(got == .array([.bulk(Array("hello".utf8)), .array([.integer(1), .bulk(Array("abc".utf8))]), .integer(9)]), "cut at \(cut)")
        }
    }
}
