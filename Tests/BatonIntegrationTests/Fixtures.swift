import BatonTestSupport
import Foundation
import Testing

/// A Redis of the test's own plus a batond wired to it and to a database of its own.
final class Stack: @unchecked Sendable {
    // @unchecked: the members are used sequentially by the one test that owns the stack.
    let redis: RedisProcess
    let database: PostgresDatabase
    let batond: BatondProcess
    let client: HTTPClient

    init(extra: [String: String] = [:], redis: RedisProcess? = nil, database: PostgresDatabase? = nil) throws {
        self.redis = try redis ?? RedisProcess()
        self.database = try database ?? PostgresDatabase()
        batond = try BatondProcess(redisURL: self.redis.url, databaseURL: self.database.url, extra: extra)
        client = batond.client()
    }
}

extension HTTPClient.Response {
    /// The body parsed as a JSON object, or a recorded issue.
    subscript(_ key: String) -> Any? { json[key] }
    var isProblem: Bool { header("content-type") == "application/problem+json" }
}

/// Runs `body` `n` times at once, each on its own thread, and returns the results in order.
func concurrently<T: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let results = ResultBox<T>(count: n)
    let group = DispatchGroup()
    let start = DispatchSemaphore(value: 0)
    for i in 0..<n {
        group.enter()
        Thread.detachNewThread {
            start.wait()
            results.set(i, Result { try body(i) })
            group.leave()
        }
    }
    for _ in 0..<n { start.signal() }
    group.wait()
    return try results.values()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private var items: [Result<T, Error>?]
    private let lock = NSLock()
    init(count: Int) { items = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); items[i] = r; lock.unlock() }
    func values() throws -> [T] { lock.lock(); defer { lock.unlock() }; return try items.map { try $0!.get() } }
}

/// Waits until `condition` holds or `seconds` pass.
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}
