import BatonCore
@testable import BatonRedis
import Testing

/// The hot path appends a lease's keys straight into the command (``RedisKeys/appendLeaseKeys``);
/// they must be the very keys every other path spells as `String`s, or a lease would live
/// under two names.
@Suite struct RedisKeysTests {
    func framed(_ c: RedisCommand) -> [UInt8] { RESPWriter.withFramed(c) { Array($0) } }

    @Test(arguments: ["a", "bench-0-1", "jellyfin.tasks.RefreshLibrary", String(repeating: "n", count: 100)])
    func appendedLeaseKeysAreTheSpelledOnes(_ raw: String) throws {
        let lease = try #require(LeaseName(raw))
        var appended = RedisCommand()
        RedisKeys.appendLeaseKeys(lease, to: &appended)
        let spelled = RedisCommand([RedisKeys.lease(lease), RedisKeys.leaseMeta(lease)])
        #expect(appended.count == 2)
        #expect(framed(appended) == framed(spelled))
        #expect(RedisKeys.lease(lease) == "baton:lease:{\(raw)}")
        #expect(RedisKeys.leaseMeta(lease) == "baton:lease:{\(raw)}:meta")
    }
}
