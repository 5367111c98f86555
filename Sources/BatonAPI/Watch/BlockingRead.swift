public import BatonCore
public import BatonHTTP

/// What blocking reads need: the store's change index and the hub that holds requests.
public struct Watching: Sendable {
    public let index: any ChangeIndexStore
    public let hub: WatchHub
    /// `GET /events`; nil: the route answers 404-like 503 (not configured).
    public let events: EventBus?

    public init(index: any ChangeIndexStore, hub: WatchHub, events: EventBus? = nil) {
        self.index = index
        self.hub = hub
        self.events = events
    }
}

/// `?index=N&wait=D` on a read (Consul's blocking queries): answer at once when the state's
/// index differs from N, else hold the request until it changes or `wait` passes.
struct BlockingRead {
    static let defaultWaitMs = 30_000
    static let maxWaitMs = 300_000

    let index: Int64
    let waitMs: Int

    /// nil when the request has no `index` (a plain read). `wait` alone is ignored.
    static func parse(_ req: HTTPRequest) throws(Problem) -> BlockingRead? {
        var wait = defaultWaitMs
        if let raw = req.queryValue("wait") {
            guard let ms = parseDuration(raw) else {
                throw Problem.invalidField("wait", "must be a duration such as 30s, 500ms or 5m (a bare number is milliseconds)")
            }
            guard ms <= maxWaitMs else { throw Problem.invalidField("wait", "must be at most 5m (300000 ms)") }
            wait = ms
        }
        guard let raw = req.queryValue("index") else { return nil }
        guard let n = Int64(raw), n >= 0, raw.utf8.count <= 19 else {
            throw Problem.invalidField("index", "must be a non-negative integer (the X-Baton-Index of an earlier answer)")
        }
        return BlockingRead(index: n, waitMs: wait)
    }

    /// `250ms`, `30s`, `5m`, or plain milliseconds.
    static func parseDuration(_ s: String) -> Int? {
        let units: [(String, Int)] = [("ms", 1), ("s", 1_000), ("m", 60_000)]
        var number = Substring(s), scale = 1
        for (suffix, f) in units where s.hasSuffix(suffix) {
            number = s.dropLast(suffix.count)
            scale = f
            break
        }
        guard !number.isEmpty, number.utf8.count <= 9, number.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(number) else { return nil }
        return n * scale
    }
}

/// Puts the index on a read's answer: the `X-Baton-Index` header, and `index` in a JSON
/// object body (2xx and 409 answers only; problems stay as they are).
func stamped(_ response: HTTPResponse, index: Int64?, value: JSONValue?) -> HTTPResponse {
    guard let index else { return response }
    var r = response
    r.headers.append(("X-Baton-Index", String(index)))
    if let value, case .object(var pairs) = value, r.status < 300 || r.status == 409 {
        pairs.append(("index", .int(index)))
        r.body = JSONValue.object(pairs).encoded()
    }
    return r
}

/// Serves a read that may block: `evaluate` reads the index (first) and the state; the
/// answer is immediate for a plain read, a changed index, or when the feed is down.
func blockingRead(_ req: HTTPRequest, _ services: Services, key: WatchKey, view: String,
                  evaluate: @escaping WatchHub.Evaluate) throws(Problem) -> HTTPResponse {
    let blocking = try BlockingRead.parse(req)
    guard let watching = services.watching else { return evaluate().response }
    let seen = watching.hub.changeCount
    let first = evaluate()
    // An unsettled answer (the change is not visible in it yet) waits as if the index had not moved.
    guard let blocking, blocking.waitMs > 0, first.index != nil, !first.changed(from: blocking.index) else { return first.response }
    switch watching.hub.hold(key, view: view, index: blocking.index, waitMs: blocking.waitMs, seen: seen, first: first, evaluate: evaluate) {
    case .held(let answer): return .deferred(answer)
    case .notHeld:
        var r = first.response
        r.headers.append(("X-Baton-Watch", "unavailable; reason=feed_down"))
        return r
    case .full:
        return Problem(status: 503, code: "too_many_watchers",
                       title: "Too many watchers",
                       detail: "this replica holds \(watching.hub.limit) blocking reads already (BATON_WATCH_LIMIT); retry later or poll",
                       headers: [("Retry-After", "1")]).response
    }
}

extension Services {
    /// The change index of a lease, nil when Redis fails. Not counted by the breaker: it
    /// comes with a read of the lease that is (``CircuitBreaker/uncounted(_:)``).
    func leaseIndex(_ lease: LeaseName, renewals: Bool = false) -> Int64? {
        guard let w = watching else { return nil }
        let outcome = CircuitBreaker.uncounted {
            election.breaker(for: lease).run({ () throws(BackendError) in try w.index.index(of: lease, renewals: renewals) })
        }
        if case .success(let i) = outcome { return i }
        return nil
    }

    func taskIndex(_ task: TaskName) -> Int64? {
        guard let w = watching else { return nil }
        let outcome = CircuitBreaker.uncounted { tasks.breaker(for: task).run({ () throws(BackendError) in try w.index.index(of: task) }) }
        if case .success(let i) = outcome { return i }
        return nil
    }
}
