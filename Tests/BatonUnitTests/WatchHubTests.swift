@testable import BatonAPI
import BatonCore
import BatonHTTP
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// The watch hub without a server: held reads and the Redis breaker, unsettled answers.
@Suite struct WatchHubTests {
    /// Held reads of 20 leases re-read when the feed is lost, with Redis failing: each answer
    /// is what a read gives (503), and the breaker stays closed. Counted, these 20 re-reads
    /// opened it (threshold 3) before any client had seen a 503, and degraded grants began
    /// (openapi/live-check.sh's outage probes).
    @Test func reReadsAfterAFeedLossDoNotOpenTheBreaker() throws {
        let breaker = CircuitBreaker(backend: .redis, threshold: 3, cooldownMs: 5_000)
        let hub = WatchHub(limit: 100)
        hub.start()
        defer { hub.stop() }
        hub.feedUp(expiryEvents: true)
        var answers: [DeferredResponse] = []
        for i in 0..<20 {
            let key = WatchKey.lease(LeaseName("l\(i)")!)
            let evaluate: WatchHub.Evaluate = {
                switch breaker.run({ () throws(BackendError) -> Int in throw BackendError(.connect, "redis is gone") }) {
                case .success: return WatchAnswer(index: 1, response: .json(200, .object([])))
                default: return WatchAnswer(index: nil, response: Problem.unavailable("Redis", retryAfterMs: 1_000, detail: "down").response)
                }
            }
            let first = WatchAnswer(index: 1, response: .json(200, .object([])))
            guard case .held(let d) = hub.hold(key, view: "", index: 1, waitMs: 30_000, seen: hub.changeCount, first: first, evaluate: evaluate) else {
                Issue.record("not held")
                return
            }
            answers.append(d)
        }
        hub.feedDown("redis did not answer a ping")
        let deadline = Date().addingTimeInterval(5)
        while answers.contains(where: { !$0.isAnswered }) && Date() < deadline { usleep(10_000) }
        #expect(answers.allSatisfy { $0.isAnswered }, "every wait ends when the feed is lost")
        #expect(hub.endedByOutage.load(ordering: .relaxed) == 20)
        #expect(breaker.state == .closed && breaker.snapshot().totalFailures == 0, "\(breaker.snapshot())")
        #expect(hub.snapshot().feedLosses == 1 && hub.snapshot().lastFeedError == "redis did not answer a ping")
    }

    /// An answer whose index moved but which does not show the change yet (a run's history
    /// row is late) is not answered as the change; it is once it does.
    @Test func anUnsettledAnswerWaitsUntilItSettles() throws {
        let hub = WatchHub(limit: 10)
        hub.start()
        defer { hub.stop() }
        hub.feedUp(expiryEvents: true)
        let reads = Counter()
        let evaluate: WatchHub.Evaluate = {
            let n = reads.next()
            return WatchAnswer(index: 2, response: .json(200, .object([("read", .int(Int64(n)))])), settled: n >= 4)
        }
        let first = WatchAnswer(index: 1, response: .json(200, .object([])))
        let key = WatchKey.task(TaskName("t")!)
        guard case .held(let d) = hub.hold(key, view: "runs", index: 1, waitMs: 10_000, seen: hub.changeCount, first: first, evaluate: evaluate) else {
            Issue.record("not held")
            return
        }
        hub.changed(key)
        let deadline = Date().addingTimeInterval(5)
        while !d.isAnswered && Date() < deadline { usleep(10_000) }
        #expect(d.isAnswered && reads.value >= 4, "answered after \(reads.value) reads")
        #expect(hub.wokenByChange.load(ordering: .relaxed) == 1 && hub.timedOut.load(ordering: .relaxed) == 0)
    }
}

private final class Counter: Sendable {
    private let n = Mutex(0)
    func next() -> Int { n.withLock { $0 += 1; return $0 } }
    var value: Int { n.withLock { $0 } }
}
