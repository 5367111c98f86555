internal import BatonSupport
import Synchronization

/// A bounded in-memory queue of history events with a background writer.
///
/// Request handlers only append; one writer thread drains the queue into a
/// ``HistoryStore`` in batches. When the store fails the batch stays at the head of the
/// queue and is retried with backoff, so a PostgreSQL outage delays history but loses
/// none of it — unless the queue overflows its bound, in which case the oldest events
/// are dropped, counted and logged loudly (a full outbox must not take memory without end).
public final class HistoryOutbox: HistoryRecorder {
    /// Counters for `/status` and `/metrics`.
    public struct Stats: Sendable {
        public let pending: Int
        public let written: Int
        public let dropped: Int
        public let failures: Int
        public let lastError: String?
    }

    private struct State {
        var queue: [HistoryEvent] = []
        var head = 0  // index of the first pending event; compacted as it grows
        var written = 0
        var dropped = 0
        var failures = 0
        var lastError: String?
        var stopping = false
        var batchStart = 0  // queue index of the batch the writer holds
        var pending: Int { queue.count - head }

        /// Drops consumed events from the front of the array once they dominate it.
        /// `batchStart` moves with them (it may go negative; only differences matter).
        mutating func compact() {
            guard head > 1_024, head * 2 > queue.count else { return }
            queue.removeFirst(head)
            batchStart -= head
            head = 0
        }
    }

    public let capacity: Int
    private let store: any HistoryStore
    private let state = Mutex(State())
    private let wake = WakeSignal()
    private let done = WakeSignal()
    private let batchSize: Int
    private let retryDelayMs: ClosedRange<Int>
    private let onDrop: @Sendable (Int) -> Void

    /// - Parameters:
    ///   - onDrop: called (outside the lock) with the number of events just dropped.
    public init(store: any HistoryStore, capacity: Int = 10_000, batchSize: Int = 200,
                retryDelayMs: ClosedRange<Int> = 200...5_000, onDrop: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.store = store
        self.capacity = max(1, capacity)
        self.batchSize = batchSize
        self.retryDelayMs = retryDelayMs
        self.onDrop = onDrop
    }

    /// Starts the writer thread.
    public func start() {
        BackgroundThread.start(name: "baton-history") { [self] in self.run() }
    }

    public func record(_ event: HistoryEvent) {
        let dropped = state.withLock { s -> Int in
            s.queue.append(event)
            let over = s.pending - capacity
            guard over > 0 else { return 0 }
            s.head += over
            s.dropped += over
            s.compact()
            return over
        }
        if dropped > 0 { onDrop(dropped) }
        wake.signal()
    }

    public func stats() -> Stats {
        state.withLock { s in
            Stats(pending: s.pending, written: s.written, dropped: s.dropped, failures: s.failures, lastError: s.lastError)
        }
    }

    /// Stops the writer after one last attempt to write everything; waits at most `timeoutMs`.
    /// Returns the number of events still unwritten.
    @discardableResult
    public func shutdown(timeoutMs: Int) -> Int {
        state.withLock { $0.stopping = true }
        wake.signal()
        done.wait(timeoutMs: timeoutMs)
        return state.withLock { $0.pending }
    }

    private func run() {
        var delay = retryDelayMs.lowerBound
        while true {
            let (batch, stopping) = state.withLock { s -> ([HistoryEvent], Bool) in
                let n = min(batchSize, s.pending)
                s.batchStart = s.head
                return (Array(s.queue[s.head..<(s.head + n)]), s.stopping)
            }
            if batch.isEmpty {
                if stopping { break }
                wake.wait(timeoutMs: 1_000)
                continue
            }
            do {
                try store.write(batch)
                acknowledge(batch.count)
                delay = retryDelayMs.lowerBound
            } catch {
                state.withLock { s in
                    s.failures += 1
                    s.lastError = error.description
                }
                if stopping { break }  // shutdown: one last try only
                wake.wait(timeoutMs: delay)
                // Consume signals that arrived meanwhile so retries keep their pace.
                while wake.wait(timeoutMs: 0) {}
                delay = min(delay * 2, retryDelayMs.upperBound)
            }
        }
        done.signal()
    }

    private func acknowledge(_ count: Int) {
        state.withLock { s in
            // Overflow while the batch was in flight may have moved `head` into or past
            // it; those events were written after all, so they are not counted as dropped.
            let end = s.batchStart + count
            s.dropped -= max(0, min(s.head, end) - s.batchStart)
            s.head = max(s.head, end)
            s.written += count
            s.compact()
        }
    }
}
