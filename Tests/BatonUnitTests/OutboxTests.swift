import BatonCore
import BatonTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct OutboxTests {
    let holder = Holder("pod-a")!

    func event(_ n: Int) -> HistoryEvent {
        .run(RunRecord(runId: "run-\(n)", task: TaskName("t")!, slot: nil, holder: holder, fencingToken: FencingToken(Int64(n)),
                       claimedAtMs: Int64(n), mode: .normal))
    }

    func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<400 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    @Test func writesEverythingInOrder() {
        let store = RecordingHistory()
        let outbox = HistoryOutbox(store: store, capacity: 100, retryDelayMs: 10...50)
        outbox.start()
        for i in 0..<50 { outbox.record(event(i)) }
        #expect(waitUntil { outbox.stats().written == 50 })
        #expect(store.recorded == (0..<50).map(event))
        outbox.shutdown(timeoutMs: 1_000)
    }

    @Test func keepsRowsWhileTheStoreFailsAndWritesThemWhenItReturns() {
        let store = RecordingHistory()
        store.setFailing(true)
        let outbox = HistoryOutbox(store: store, capacity: 100, retryDelayMs: 10...50)
        outbox.start()
        for i in 0..<20 { outbox.record(event(i)) }
        #expect(waitUntil { outbox.stats().failures >= 2 })
        #expect(outbox.stats().pending == 20 && store.recorded.isEmpty)
        store.setFailing(false)
        #expect(waitUntil { outbox.stats().pending == 0 })
        #expect(store.recorded == (0..<20).map(event))
        #expect(outbox.stats().dropped == 0)
        outbox.shutdown(timeoutMs: 1_000)
    }

    @Test func dropsTheOldestBeyondCapacityAndCountsThem() {
        let store = RecordingHistory()
        store.setFailing(true)
        let dropped = DropCounter()
        let outbox = HistoryOutbox(store: store, capacity: 10, retryDelayMs: 10...50) { dropped.add($0) }
        for i in 0..<15 { outbox.record(event(i)) }
        #expect(outbox.stats().dropped == 5 && outbox.stats().pending == 10 && dropped.total == 5)
        store.setFailing(false)
        outbox.start()
        #expect(waitUntil { outbox.stats().pending == 0 })
        #expect(store.recorded == (5..<15).map(event))
        outbox.shutdown(timeoutMs: 1_000)
    }

    @Test func shutdownFlushesWhatIsPending() {
        let store = RecordingHistory()
        let outbox = HistoryOutbox(store: store, capacity: 1_000, batchSize: 7, retryDelayMs: 10...50)
        for i in 0..<100 { outbox.record(event(i)) }
        outbox.start()
        #expect(outbox.shutdown(timeoutMs: 2_000) == 0)
        #expect(store.recorded.count == 100)
    }
}

final class DropCounter: Sendable {
    private let n = Mutex(0)
    func add(_ k: Int) { n.withLock { $0 += k } }
    var total: Int { n.withLock { $0 } }
}
