public import BatonCore
public import BatonHTTP
public import BatonSupport
public import Synchronization

/// One resource's state as an event stream sees it.
public struct EventState: Sendable {
    /// `leader_changed`, `lease_vacant`, `claimed`, `completed`, or `claim_ended`.
    public var event: String
    public var data: JSONValue
    /// Equal fingerprints are the same state (no event).
    public var fingerprint: String
    public var expiresInMs: Int?

    public init(event: String, data: JSONValue, fingerprint: String, expiresInMs: Int?) {
        self.event = event
        self.data = data
        self.fingerprint = fingerprint
        self.expiresInMs = expiresInMs
    }
}

/// `GET /events`: Server-Sent Events for the leases and tasks a client names.
///
/// Events are made once per change, not once per client: a changed resource is read once
/// on the bus's thread, compared with what was last seen, and the event (with an id from one
/// counter) goes into a ring of the last `ringSize` events and to every stream that watches
/// the resource. `Last-Event-ID` replays from the ring; when the id asked for is older than
/// the ring (or not from this process: ids are per batond process), an `events_lost` event
/// says so and the current state follows. A resource is read from the first time a stream
/// names it and for as long as the bus remembers it (at most `maxKeys`, the oldest unwatched
/// forgotten first), so events are not missed between a client's disconnect and its resume.
/// Idle streams get a heartbeat comment every `heartbeatMs`; a stream more than its buffer
/// behind is ended (see ``EventStream``).
public final class EventBus: Sendable {
    public typealias Evaluate = @Sendable () -> EventState?

    struct Event {
        let id: UInt64
        let key: WatchKey?
        let bytes: [UInt8]
    }

    struct Subscriber {
        let keys: Set<WatchKey>
        let stream: EventStream
    }

    struct Known {
        let evaluate: Evaluate
        var fingerprint: String?
        var recheckNs: UInt64?
        var lastUsedNs: UInt64
    }

    struct State {
        var ring: [Event] = []
        var nextId: UInt64 = 1
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 1
        var known: [WatchKey: Known] = [:]
        var dirty: Set<WatchKey> = []
        var mode: String? = nil
        /// Bumped each time the mode becomes `recovering`: the re-read round that began then
        /// ends it (see ``loop()``).
        var recovery: UInt64 = 0
        var expiryEvents = false
        var stopped = false
    }

    public let limit: Int
    public let ringSize: Int
    public let maxKeys: Int
    public let heartbeatMs: Int
    public let bufferBytes: Int
    private let state = Mutex(State())
    private let wake = WakeSignal()

    public init(limit: Int = 256, ringSize: Int = 1_024, maxKeys: Int = 1_024, heartbeatMs: Int = 15_000, bufferBytes: Int = 64 * 1024) {
        self.limit = limit
        self.ringSize = ringSize
        self.maxKeys = maxKeys
        self.heartbeatMs = heartbeatMs
        self.bufferBytes = bufferBytes
    }

    public func start() {
        BackgroundThread.start(name: "baton-events") { [self] in self.loop() }
    }

    public func stop() {
        let streams = state.withLock { s -> [EventStream] in
            s.stopped = true
            return s.subscribers.values.map(\.stream)
        }
        for s in streams { s.finish() }
        wake.signal()
    }

    public var streams: Int { state.withLock { $0.subscribers.count } }

    public enum Opened {
        case stream(EventStream)
        case full
        case tooManyKeys
    }

    /// Opens a stream on `keys` (each with how to read it). With `lastEventId`, replays what
    /// came after it, or says `events_lost`; without, starts with each resource's state.
    public func open(_ keys: [(WatchKey, Evaluate)], lastEventId: UInt64?) -> Opened {
        // The current state of each resource, read here (on the request's worker and its
        // Redis connection) and sent to this stream only, without ids: the ids stay the ring's.
        let now = monotonicNs()
        // Not counted by the Redis breaker: one stream names up to 64 resources.
        let current = CircuitBreaker.uncounted { keys.map { ($0.0, $0.1()) } }
        let stream = EventStream(limit: bufferBytes)
        let outcome: Opened = state.withLock { s in
            // Streams whose client left count no more (their response was freed).
            if s.subscribers.count >= limit { s.subscribers = s.subscribers.filter { !$0.value.stream.isOver } }
            guard !s.stopped, s.subscribers.count < limit else { return .full }
            for (k, e) in keys where s.known[k] == nil {
                if s.known.count >= maxKeys {
                    let watched = Set(s.subscribers.values.flatMap(\.keys))
                    guard let oldest = s.known.filter({ !watched.contains($0.key) }).min(by: { $0.value.lastUsedNs < $1.value.lastUsedNs })?.key else {
                        return .tooManyKeys
                    }
                    s.known[oldest] = nil
                }
                s.known[k] = Known(evaluate: e, fingerprint: nil, lastUsedNs: now)
            }
            for (k, st) in current {
                s.known[k]?.lastUsedNs = now
                if s.known[k]?.fingerprint == nil, let st { s.known[k]?.fingerprint = st.fingerprint }
            }
            let set = Set(keys.map(\.0))
            let id = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[id] = Subscriber(keys: set, stream: stream)
            var out: [UInt8] = Array("retry: 1000\n\n".utf8)
            var resumed = false
            if let last = lastEventId {
                let oldest = s.ring.first?.id ?? s.nextId
                if last + 1 >= oldest && last < s.nextId {
                    for e in s.ring where e.id > last && (e.key == nil || set.contains(e.key!)) { out += e.bytes }
                    resumed = true
                } else {
                    let data = JSONValue.object([("last_event_id", .int(Int64(clamping: last))), ("oldest_kept", .int(Int64(oldest))),
                                                 ("detail", .string("the events after this id are no longer kept by this batond; the current state follows"))])
                    out += Self.format(id: nil, event: "events_lost", data: data)
                }
            }
            if !resumed {
                for (_, st) in current { if let st { out += Self.format(id: nil, event: st.event, data: st.data) } }
                if let m = s.mode, m != "normal" { out += Self.format(id: nil, event: "mode_changed", data: .object([("mode", .string(m))])) }
            }
            stream.send(out)
            return .stream(stream)
        }
        wake.signal()
        return outcome
    }

    // MARK: - Changes

    public func changed(_ key: WatchKey) {
        state.withLock { s in if s.known[key] != nil { s.dirty.insert(key) } }
        wake.signal()
    }

    /// A run completed after its claim ended, through any replica: `late_completion` to the
    /// streams watching the task (the claim did not change, so no state event follows).
    public func lateCompletion(_ late: LateCompletion) {
        state.withLock { s in
            guard s.known[.task(late.task)] != nil else { return }
            publish(&s, key: .task(late.task), event: "late_completion", data: .object([
                ("task", .string(late.task.value)), ("run_id", .string(late.runId)), ("holder", .string(late.holder.value)),
                ("status", .string(late.status.rawValue)), ("late", .bool(true)),
            ]))
        }
    }

    /// The feed's state: `degraded` when it is lost, `normal` when it is up. Up again after a
    /// loss, the mode is `recovering` first: what changed meanwhile was not published to this
    /// replica, so every watched resource is read again (its state follows when it changed)
    /// and `normal` comes once all of them were read.
    public func mode(_ mode: String, expiryEvents: Bool? = nil) {
        state.withLock { s in
            if let e = expiryEvents { s.expiryEvents = e }
            var next = mode
            if mode == "normal", s.mode == "degraded" || s.mode == "recovering" { next = "recovering" }
            guard s.mode != next else { return }
            let first = s.mode == nil
            s.mode = next
            if first && next == "normal" { return }
            publish(&s, key: nil, event: "mode_changed", data: .object([("mode", .string(next))]))
            if next == "recovering" {
                s.recovery += 1
                for k in s.known.keys { s.dirty.insert(k) }
            }
        }
        wake.signal()
    }

    /// The watch mode now (`normal`, `degraded` or `recovering`; nil before the feed's first connect).
    public var currentMode: String? { state.withLock { $0.mode } }

    private func publish(_ s: inout State, key: WatchKey?, event: String, data: JSONValue) {
        let id = s.nextId
        s.nextId += 1
        let bytes = Self.format(id: id, event: event, data: data)
        s.ring.append(Event(id: id, key: key, bytes: bytes))
        if s.ring.count > ringSize { s.ring.removeFirst(s.ring.count - ringSize) }
        for (sid, sub) in s.subscribers where key == nil || sub.keys.contains(key!) {
            if !sub.stream.send(bytes) { s.subscribers[sid] = nil }
        }
    }

    static func format(id: UInt64?, event: String, data: JSONValue) -> [UInt8] {
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(event)\ndata: "
        return Array(text.utf8) + data.encoded() + Array("\n\n".utf8)
    }

    private func loop() {
        var lastBeat = monotonicNs()
        while true {
            let now = monotonicNs()
            let next = state.withLock { s -> UInt64? in s.known.values.compactMap(\.recheckNs).min() }
            let untilBeat = lastBeat + UInt64(heartbeatMs) * 1_000_000
            let target = min(next ?? untilBeat, untilBeat)
            if target > now { wake.wait(timeoutMs: Int((min(target - now, 1_000_000_000) + 999_999) / 1_000_000)) }
            let t = monotonicNs()
            let (work, stopped, recovery) = state.withLock { s -> ([(WatchKey, Evaluate)], Bool, UInt64?) in
                for (k, v) in s.known where (v.recheckNs ?? .max) <= t { s.dirty.insert(k) }
                let w = s.dirty.compactMap { k in s.known[k].map { (k, $0.evaluate) } }
                s.dirty.removeAll()
                return (w, s.stopped, s.mode == "recovering" ? s.recovery : nil)
            }
            if stopped { return }
            var unread: [WatchKey] = []
            for (k, evaluate) in work {
                // Not a client's request: not counted by the Redis breaker.
                guard let st = CircuitBreaker.uncounted({ evaluate() }) else {
                    unread.append(k)  // Redis failing: mode_changed says so, and recovery reads it again
                    continue
                }
                state.withLock { s in
                    guard var known = s.known[k] else { return }
                    known.recheckNs = s.expiryEvents ? nil : st.expiresInMs.map { t + UInt64(max(0, $0) + 5) * 1_000_000 }
                    let changed = known.fingerprint != st.fingerprint
                    known.fingerprint = st.fingerprint
                    s.known[k] = known
                    if changed { publish(&s, key: k, event: st.event, data: st.data) }
                }
            }
            if let recovery {
                state.withLock { s in
                    guard s.mode == "recovering", s.recovery == recovery else { return }
                    if unread.isEmpty {
                        s.mode = "normal"
                        publish(&s, key: nil, event: "mode_changed", data: .object([("mode", .string("normal"))]))
                    } else {
                        for k in unread where s.known[k] != nil { s.dirty.insert(k) }
                    }
                }
            }
            if t >= untilBeat {
                lastBeat = t
                state.withLock { s in
                    for (sid, sub) in s.subscribers where !sub.stream.send(Array(": heartbeat\n\n".utf8)) { s.subscribers[sid] = nil }
                }
            }
            state.withLock { s in for (sid, sub) in s.subscribers where sub.stream.isOver { s.subscribers[sid] = nil } }
        }
    }
}

private func monotonicNs() -> UInt64 { MonotonicClock.nanoseconds() }
