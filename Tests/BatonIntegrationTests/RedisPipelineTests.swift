import BatonCore
@testable import BatonRedis
import BatonSupport
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// ``RedisPipeline`` against a real redis-server: replies reach the command that asked,
/// whatever thread sent it; a lost or hung server fails what waits, once, and the next
/// command gets through again.
@Suite struct RedisPipelineTests {
    /// Collects answers and waits for a number of them.
    final class Answers<T: Sendable>: Sendable {
        private let got = Mutex<[T]>([])
        private let signal = WakeSignal()
        func add(_ v: T) {
            got.withLock { $0.append(v) }
            signal.signal()
        }
        /// All answers once `count` have come, or what came within `ms`.
        func wait(for count: Int, ms: Int = 10_000) -> [T] {
            let deadline = MonotonicClock.milliseconds() + Int64(ms)
            while got.withLock({ $0.count }) < count {
                let left = deadline - MonotonicClock.milliseconds()
                if left <= 0 { break }
                signal.wait(timeoutMs: Int(left))
            }
            return got.withLock { $0 }
        }
    }

    func pipeline(_ redis: RedisProcess, timeoutMs: Int = 500) throws -> RedisPipeline {
        RedisPipeline(connection: RedisConnection(endpoint: try RedisEndpoint(url: redis.url, timeoutMs: timeoutMs)))
    }

    @Test func repliesReachTheirCommandsFromManyThreads() throws {
        let redis = try RedisProcess()
        let p = try pipeline(redis)
        let answers = Answers<(String, String?)>()
        let threads = 8, each = 300
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<each {
                let word = "t\(t)-\(i)"
                let sent = p.send({ _ in RedisCommand(["ECHO", word]) }) { reply in
                    answers.add((word, try? reply.get().string))
                }
                if !sent { answers.add((word, "not sent")) }
            }
        }
        let got = answers.wait(for: threads * each)
        #expect(got.count == threads * each)
        #expect(got.allSatisfy { $0.0 == $0.1 }, "\(got.filter { $0.0 != $0.1 }.prefix(3))")
        #expect(p.commandsSent == threads * each)
    }

    /// The acquire `POST /leader` makes: through the pipeline, from many threads at once.
    @Test func acquiresGoThroughThePipeline() throws {
        let redis = try RedisProcess()
        let conn = PerThreadRedis(endpoint: try RedisEndpoint(url: redis.url), pipelined: true)
        let store = RedisLeaseStore(redis: conn)
        #expect(store.answersLater)
        let answers = Answers<Result<AcquireResult, BackendError>>()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            store.acquire(LeaseName("lease-\(i % 16)")!, holder: Holder("pod-\(i / 16)")!, ttlMs: 10_000, guardrails: { .none }) {
                answers.add($0)
            }
        }
        let got = answers.wait(for: 64).compactMap { try? $0.get() }
        #expect(got.count == 64)
        // 16 leases: each acquired by exactly one of its four holders, refused to the others.
        #expect(got.filter { if case .acquired = $0 { return true }; return false }.count == 16)
        #expect(got.filter { if case .heldByOther = $0 { return true }; return false }.count == 48)
        #expect(conn.pipeline?.commandsSent ?? 0 >= 63)  // the first may have gone the blocking way to load the script
    }

    @Test func aKilledServerFailsWhatWaitsOnceThenItWorksAgain() throws {
        let redis = try RedisProcess()
        let p = try pipeline(redis)
        let warm = Answers<String?>()
        _ = p.send({ _ in RedisCommand(["PING"]) }) { warm.add(try? $0.get().string) }
        #expect(warm.wait(for: 1) == ["PONG"])

        // Commands in flight when the server dies: each answered once, with a failure.
        redis.pause()
        let lost = Answers<BackendError?>()
        for _ in 0..<20 {
            if !p.send({ _ in RedisCommand(["PING"]) }, completion: { r in
                if case .failure(let e) = r { lost.add(e) } else { lost.add(nil) }
            }) { lost.add(BackendError(.io, "not sent")) }
        }
        redis.kill()
        let failures = lost.wait(for: 20)
        #expect(failures.count == 20)
        #expect(failures.allSatisfy { $0 != nil })
        #expect(failures.compactMap { $0 }.filter { $0.message != "not sent" }.allSatisfy { $0.outcomeUnknown })
        usleep(300_000)
        #expect(lost.wait(for: 21, ms: 300).count == 20, "a command was answered twice")

        try redis.start()
        var back = false
        for _ in 0..<20 where !back {
            let again = Answers<String?>()
            if p.send({ _ in RedisCommand(["PING"]) }, completion: { again.add(try? $0.get().string) }) {
                back = again.wait(for: 1) == ["PONG"]
            }
            if !back { usleep(100_000) }
        }
        #expect(back, "the pipeline did not reconnect")
    }

    @Test func aHungServerTimesOutWithAnUnknownOutcome() throws {
        let redis = try RedisProcess()
        let p = try pipeline(redis, timeoutMs: 300)
        let warm = Answers<String?>()
        _ = p.send({ _ in RedisCommand(["PING"]) }) { warm.add(try? $0.get().string) }
        #expect(warm.wait(for: 1) == ["PONG"])
        redis.pause()
        defer { redis.resume() }
        let start = MonotonicClock.milliseconds()
        let hung = Answers<BackendError?>()
        #expect(p.send({ _ in RedisCommand(["PING"]) }) { r in
            if case .failure(let e) = r { hung.add(e) } else { hung.add(nil) }
        })
        let got = hung.wait(for: 1, ms: 5_000)
        let took = MonotonicClock.milliseconds() - start
        #expect(got.count == 1 && got[0]?.kind == .timeout && got[0]?.outcomeUnknown == true, "\(got)")
        #expect(took >= 250 && took < 2_000, "answered after \(took) ms")
    }
}
