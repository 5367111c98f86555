public import BatonCore
public import BatonHTTP
public import BatonSupport
public import Synchronization

/// What a blocking read answers now: the response with its index, and when the tenure or
/// claim it shows runs out (for re-reading at expiry when Redis sends no expiry events).
public struct WatchAnswer: Sendable {
    /// The resource's change index; nil when it could not be read (Redis failing).
    public var index: Int64?
    public var response: HTTPResponse
    public var expiresInMs: Int?
    /// False when the index moved but what the answer shows does not show that change yet (a
    /// run's history row comes after its claim): not answered as a change, read again soon.
    public var settled: Bool

    public init(index: Int64?, response: HTTPResponse, expiresInMs: Int? = nil, settled: Bool = true) {
        self.index = index
        self.response = response
        self.expiresInMs = expiresInMs
        self.settled = settled
    }

    /// Whether this answer is news for a watcher that saw `index`.
    func changed(from index: Int64) -> Bool { self.index == nil || (self.index != index && settled) }

    /// How soon to read an unsettled answer again.
    static let unsettledRecheckNs: UInt64 = 50_000_000
}

/// The requests held by blocking reads (`?index=N&wait=`), woken by the change feed.
///
/// Held requests cost no thread (``DeferredResponse``). One dispatcher thread re-reads a
/// changed resource once per distinct view (the same lease asked by the same holder gets
/// one Redis read however many watchers hold it) and answers those whose index differs.
/// It also ends waits whose `wait` ran out, and, when Redis sends no expiry events, re-reads
/// a resource when the tenure or claim a watcher saw is due to expire. When the feed is lost
/// every wait is answered at once with what a read gives now (a 503 while Redis fails), and
/// new blocking reads answer at once until the feed is back: nobody hangs on a dead feed.
public final class WatchHub: ChangeListener, Sendable {
    public typealias Evaluate = @Sendable () -> WatchAnswer

    struct Waiter {
        let key: WatchKey
        /// Requests with the same key and view get the same answer.
        let view: String
        let index: Int64
        let deadlineNs: UInt64
        var recheckNs: UInt64?
        let evaluate: Evaluate
        let answer: DeferredResponse
    }

    struct State {
        var waiters: [UInt64: Waiter] = [:]
        var byKey: [WatchKey: Set<UInt64>] = [:]
        var dirty: Set<WatchKey> = []
        var endAll = false
        var feedUp = false
        var expiryEvents = false
        var nextId: UInt64 = 1
        var stopped = false
        /// The feed was up once and lost since (not the start-up wait for the first connect).
        var feedLosses = 0
        var lastFeedError: String?
        var everUp = false
    }

    /// What `/status` and `/metrics` show of the feed and the held requests.
    public struct Snapshot: Sendable {
        public let feedUp: Bool
        public let expiryEvents: Bool
        public let watchers: Int
        public let feedLosses: Int
        public let lastFeedError: String?
    }

    /// Most requests held at once; more get 503 (`too_many_watchers`).
    public let limit: Int
    private let state = Mutex(State())
    private let wake = WakeSignal()
    /// Counts changes, so a read that raced a change re-reads (see ``hold(_:view:index:waitMs:evaluate:)``).
    private let changes = Atomic<UInt64>(0)
    /// Waits answered because of a change, a timeout, and an outage; for tests and /metrics.
    public let wokenByChange = Atomic<Int>(0)
    public let timedOut = Atomic<Int>(0)
    public let endedByOutage = Atomic<Int>(0)

    public init(limit: Int = 2_000) {
        self.limit = limit
    }

    /// Starts the dispatcher thread.
    public func start() {
        BackgroundThread.start(name: "baton-watch") { [self] in self.dispatchLoop() }
    }

    /// Answers every held request now (shutdown); later blocking reads answer at once.
    public func stop() {
        state.withLock {
            $0.stopped = true
            $0.endAll = true
        }
        wake.signal()
    }

    /// Requests held now.
    public var count: Int { state.withLock { $0.waiters.count } }

    public func snapshot() -> Snapshot {
        state.withLock { s in
            Snapshot(feedUp: s.feedUp && !s.stopped, expiryEvents: s.expiryEvents, watchers: s.waiters.count,
                     feedLosses: s.feedLosses, lastFeedError: s.lastFeedError)
        }
    }
    /// Whether blocking reads wait (the feed is up).
    public var accepting: Bool { state.withLock { $0.feedUp && !$0.stopped } }

    /// A counter to read before evaluating a blocking read, and to pass to ``hold``.
    public var changeCount: UInt64 { changes.load(ordering: .sequentiallyConsistent) }

    /// Holds a request until `key` changes away from `index`, `waitMs` passes, or the feed is
    /// lost; `first` is what was read before (the caller saw `first.index == index`), read
    /// after `seen` = ``changeCount``. Returns nil when it cannot hold: the caller answers
    /// `first` at once (feed down), or a 503 when the watcher limit is reached.
    public func hold(_ key: WatchKey, view: String, index: Int64, waitMs: Int, seen: UInt64, first: WatchAnswer,
                     evaluate: @escaping Evaluate) -> HoldResult {
        let now = monotonicNow()
        let answer = DeferredResponse()
        let result: HoldResult = state.withLock { s in
            guard s.feedUp, !s.stopped else { return .notHeld }
            guard s.waiters.count < limit else { return .full }
            let id = s.nextId
            s.nextId += 1
            var recheck: UInt64? = nil
            if !s.expiryEvents, let e = first.expiresInMs { recheck = now + UInt64(max(0, e) + 5) * 1_000_000 }
            if !first.settled { recheck = now + WatchAnswer.unsettledRecheckNs }
            s.waiters[id] = Waiter(key: key, view: view, index: index, deadlineNs: now + UInt64(waitMs) * 1_000_000,
                                   recheckNs: recheck, evaluate: evaluate, answer: answer)
            s.byKey[key, default: []].insert(id)
            // A change published between the read and now would be missed: read again.
            if changes.load(ordering: .sequentiallyConsistent) != seen { s.dirty.insert(key) }
            return .held(answer)
        }
        wake.signal()
        return result
    }

    public enum HoldResult {
        case held(DeferredResponse)
        case notHeld
        case full
    }

    // MARK: - ChangeListener (the feed's thread)

    public func changed(_ key: WatchKey) {
        changes.add(1, ordering: .sequentiallyConsistent)
        state.withLock { s in for k in key.affected where s.byKey[k] != nil { s.dirty.insert(k) } }
        wake.signal()
    }

    public func feedUp(expiryEvents: Bool) {
        changes.add(1, ordering: .sequentiallyConsistent)
        state.withLock { s in
            s.feedUp = true
            s.everUp = true
            s.expiryEvents = expiryEvents
        }
    }

    public func feedDown(_ reason: String) {
        changes.add(1, ordering: .sequentiallyConsistent)
        let (had, new) = state.withLock { s -> (Bool, Bool) in
            let was = s.feedUp
            let new = s.lastFeedError != String(reason.prefix(300))
            s.feedUp = false
            s.lastFeedError = String(reason.prefix(300))
            if was { s.feedLosses += 1 }
            if !s.waiters.isEmpty { s.endAll = true }
            return (was, new)
        }
        // The feed retries every 5 s at most: each new reason once, not every attempt.
        if !had && new { Log.current.warn("redis change feed not up: blocking reads answer at once", ["reason": .string(reason)]) }
        if had { Log.current.warn("redis change feed lost: held blocking reads answered now, new ones answer at once until it is back", ["reason": .string(reason)]) }
        wake.signal()
    }

    // MARK: - Dispatcher

    private func dispatchLoop() {
        while true {
            let next = state.withLock { s -> UInt64? in
                var soonest: UInt64? = nil
                for w in s.waiters.values {
                    let t = min(w.deadlineNs, w.recheckNs ?? .max)
                    if soonest == nil || t < soonest! { soonest = t }
                }
                return soonest
            }
            let now = monotonicNow()
            let sleepNs = next.map { $0 > now ? min($0 - now, 1_000_000_000) : 0 } ?? 1_000_000_000
            if sleepNs > 0 { wake.wait(timeoutMs: Int((sleepNs + 999_999) / 1_000_000)) }
            if round() { return }
        }
    }

    /// One pass: picks the waiters to look at, reads each (key, view) once, answers.
    /// Returns true once stopped and drained.
    private func round() -> Bool {
        let now = monotonicNow()
        let (work, force, stopped) = state.withLock { s -> ([UInt64: Waiter], Bool, Bool) in
            var picked: [UInt64: Waiter] = [:]
            let force = s.endAll
            s.endAll = false
            if force {
                picked = s.waiters
            } else {
                for k in s.dirty { for id in s.byKey[k] ?? [] { picked[id] = s.waiters[id] } }
                for (id, w) in s.waiters where w.deadlineNs <= now || (w.recheckNs ?? .max) <= now { picked[id] = w }
            }
            s.dirty.removeAll()
            return (picked, force, s.stopped)
        }
        if work.isEmpty { return stopped }
        var groups: [String: [(UInt64, Waiter)]] = [:]
        for (id, w) in work { groups["\(w.key)\u{0}\(w.view)", default: []].append((id, w)) }
        var done: [UInt64] = []
        var rechecks: [UInt64: UInt64?] = [:]
        for (_, members) in groups {
            // Not a client's request: Redis failing here must not open the breaker (see
            // CircuitBreaker.uncounted); while it is open the re-read answers 503 at once.
            let answer = CircuitBreaker.uncounted { members[0].1.evaluate() }
            let after = monotonicNow()
            for (id, w) in members {
                let changedIndex = answer.changed(from: w.index)
                if force || changedIndex || w.deadlineNs <= after {
                    var r = answer.response
                    if force { r = Self.ended(r, reason: stopped ? "shutdown" : "feed_lost") }
                    w.answer.fulfill(r)
                    done.append(id)
                    if force { endedByOutage.add(1, ordering: .relaxed) }
                    else if changedIndex { wokenByChange.add(1, ordering: .relaxed) }
                    else { timedOut.add(1, ordering: .relaxed) }
                } else if !answer.settled {
                    rechecks[id] = after + WatchAnswer.unsettledRecheckNs
                } else if (w.recheckNs ?? .max) <= after {
                    // Re-read at expiry found no change yet (Redis expires keys a little late): look again soon.
                    rechecks[id] = answer.expiresInMs.map { after + UInt64(max(0, $0) + 5) * 1_000_000 } ?? after + 50_000_000
                }
            }
        }
        state.withLock { s in
            for id in done {
                guard let w = s.waiters.removeValue(forKey: id) else { continue }
                s.byKey[w.key]?.remove(id)
                if s.byKey[w.key]?.isEmpty == true { s.byKey[w.key] = nil }
            }
            for (id, t) in rechecks { s.waiters[id]?.recheckNs = t }
        }
        return stopped && state.withLock { $0.waiters.isEmpty }
    }
}

extension WatchHub {
    /// A wait ended without a change (the feed was lost, or batond is stopping): the header,
    /// and in a JSON object body (the state, or the 503 problem while Redis fails) a `watch`
    /// object with why and the watch mode now, so a script reading only the body knows that
    /// this answer is no change and (`mode: degraded`) that blocking reads answer at once
    /// until the feed is back.
    static func ended(_ response: HTTPResponse, reason: String) -> HTTPResponse {
        var r = response
        r.headers.append(("X-Baton-Watch", "ended; reason=\(reason)"))
        if case .object(var pairs)? = try? JSONParser.parse(r.body) {
            var watch: [(String, JSONValue)] = [("ended", .string(reason))]
            if reason == "feed_lost" { watch.append(("mode", .string("degraded"))) }
            pairs.append(("watch", .object(watch)))
            r.body = JSONValue.object(pairs).encoded()
        }
        return r
    }
}

private func monotonicNow() -> UInt64 { MonotonicClock.nanoseconds() }
