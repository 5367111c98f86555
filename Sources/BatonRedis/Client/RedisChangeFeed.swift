public import BatonCore
import CHiredis
import Glibc
public import Synchronization

/// One Redis subscription per batond process that tells a ``ChangeListener`` what changed:
/// the scripts PUBLISH a resource's key on `baton:changes` when it changes (a change made
/// through any replica wakes watchers on all of them), and, when the server has
/// `notify-keyspace-events` with `E` and `x` (or `A`), its own `expired` events tell when a
/// tenure or claim ran out with nobody writing. Without them (checked with CONFIG GET at
/// every connect: the default is off, and managed Redis may forbid CONFIG) the listener is
/// told to re-read at each watched tenure's expiry instead.
///
/// A dedicated thread with its own hiredis connection (a subscribed connection cannot run
/// other commands), reconnecting with backoff (100 ms doubling to 5 s). It pings when
/// nothing came for `pingEveryMs`; a ping unanswered for `deadAfterMs` more is a lost
/// server (a failover, a partition), and so is any I/O error: the listener hears
/// ``ChangeListener/feedDown(_:)`` at once, so no watcher waits on a feed that is gone.
///
/// `endpoint` is asked at every connect, so an endpoint resolver (Sentinel) can point the
/// feed at the current master.
public final class RedisChangeFeed: Sendable {
    private let endpoint: @Sendable () -> RedisEndpoint
    private let listener: any ChangeListener
    private let pingEveryMs: Int
    private let deadAfterMs: Int
    /// Whether the server's expired-key events may stand in for re-reads at expiry. Not under
    /// Redis Cluster: each node sends only the expiries of its own keys, and the feed listens
    /// to one node, so watchers of leases on the other shards would sleep through theirs.
    private let keyspaceEvents: Bool
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    /// Whether the feed is subscribed now; for `/status`.
    public let subscribed = Atomic<Bool>(false)
    /// Whether the server sends expiry events (the last connect's CONFIG GET).
    public let expiryEvents = Atomic<Bool>(false)
    /// Connections lost since start.
    public let losses = Atomic<Int>(0)

    public init(endpoint: @escaping @Sendable () -> RedisEndpoint, listener: any ChangeListener,
                pingEveryMs: Int = 2_000, deadAfterMs: Int = 2_000, keyspaceEvents: Bool = true) {
        self.endpoint = endpoint
        self.listener = listener
        self.keyspaceEvents = keyspaceEvents
        self.pingEveryMs = pingEveryMs
        self.deadAfterMs = deadAfterMs
    }

    /// Starts the feed's thread (once).
    public func start() {
        guard !running.exchange(true, ordering: .relaxed) else { return }
        var thread = pthread_t()
        let cls = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, feedMain, cls)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    /// Asks the thread to end (within a poll interval); the listener hears nothing more.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    fileprivate func run() {
        var backoffMs = 100
        while !stopping.load(ordering: .relaxed) {
            let started = monotonicMs()
            let reason = session()
            if stopping.load(ordering: .relaxed) { break }
            if subscribed.exchange(false, ordering: .relaxed) { losses.add(1, ordering: .relaxed) }
            // Told on every failed attempt too: harmless (idempotent), and a listener that
            // started before the first connect learns why the feed is not up.
            listener.feedDown(reason)
            // A session that lasted a while was healthy: start the backoff again.
            if monotonicMs() - started > 10_000 { backoffMs = 100 }
            var slept = 0
            while slept < backoffMs && !stopping.load(ordering: .relaxed) {
                usleep(50_000)
                slept += 50
            }
            backoffMs = min(5_000, backoffMs * 2)
        }
        subscribed.store(false, ordering: .relaxed)
    }

    /// One connection: connect, subscribe, read until it fails. Returns why it ended.
    private func session() -> String {
        let ep = endpoint()
        let link: PushLink
        do throws(BackendError) {
            link = try PushLink(ep)
        } catch {
            return error.message
        }
        let events = keyspaceEvents && link.expiryEventsEnabled()
        expiryEvents.store(events, ordering: .relaxed)
        var channels = [RedisKeys.changesChannel]
        if events { channels.append("__keyevent@\(ep.database)__:expired") }
        guard link.send(["SUBSCRIBE"] + channels) else { return "subscribe failed" }
        var confirmed = 0
        var lastHeardMs = monotonicMs()
        var pingSentMs: Int64? = nil
        while !stopping.load(ordering: .relaxed) {
            switch link.next(timeoutMs: 200) {
            case .failed(let why):
                return why
            case .refused(let message):
                // A misconfiguration, not an outage: said in /status (watch.last_feed_error) and
                // the log; blocking reads answer at once meanwhile (never hang on a dead feed).
                return "redis refused the change feed (\(message.prefix(120))); its user needs +subscribe +ping and &baton:changes (docker/README.md, Minimal ACL)"
            case .nothing:
                let now = monotonicMs()
                if let sent = pingSentMs {
                    if now - sent > Int64(deadAfterMs) { return "redis did not answer a ping in \(deadAfterMs) ms" }
                } else if now - lastHeardMs > Int64(pingEveryMs) {
                    guard link.send(["PING"]) else { return "ping failed" }
                    pingSentMs = now
                }
            case .reply(let parts):
                lastHeardMs = monotonicMs()
                pingSentMs = nil
                guard let kind = parts.first else { continue }
                switch kind {
                case "subscribe":
                    confirmed += 1
                    if confirmed == channels.count {
                        subscribed.store(true, ordering: .relaxed)
                        listener.feedUp(expiryEvents: events)
                    }
                case "message" where parts.count == 3:
                    if let key = RedisKeys.watchKey(of: parts[2]) {
                        listener.changed(key)
                    } else if let late = RedisKeys.lateCompletion(parts[2]) {
                        listener.lateCompletion(late)
                    }
                default:
                    continue  // pong
                }
            }
        }
        return "stopped"
    }
}

private func feedMain(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let raw else { return nil }
    let feed = Unmanaged<RedisChangeFeed>.fromOpaque(raw).takeRetainedValue()
    feed.run()
    return nil
}

private func monotonicMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// A subscribed hiredis connection: commands are written without waiting for their reply,
/// and replies are read as they come, with poll(2) for a bounded wait (hiredis' own read
/// timeout would leave the context unusable after an idle second).
/// Used by one thread only (the feed's).
private final class PushLink {
    enum Next {
        case reply([String])
        /// An error reply (a refused SUBSCRIBE or PING: the ACL).
        case refused(String)
        case nothing
        case failed(String)
    }

    private let context: UnsafeMutablePointer<redisContext>

    init(_ endpoint: RedisEndpoint) throws(BackendError) {
        let tv = timeval(tv_sec: endpoint.timeoutMs / 1000, tv_usec: (endpoint.timeoutMs % 1000) * 1000)
        let made: UnsafeMutablePointer<redisContext>?
        switch endpoint.address {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): made = redisConnectUnixWithTimeout(path, tv)
        }
        guard let c = made else { throw BackendError(.connect, "cannot allocate redis context") }
        // Freed here only while `context` is unset: once it is, a throwing init still runs
        // deinit, which frees it (freeing it here too was a double free, and batond aborted
        // with "free(): invalid pointer" when the feed reconnected to a dead master).
        if c.pointee.err != 0 {
            let text = Self.errorText(c)
            redisFree(c)
            throw BackendError(.connect, "redis change feed connect: \(text)")
        }
        context = c
        _ = redisSetTimeout(c, tv)
        if case .tcp = endpoint.address { _ = redisEnableKeepAlive(c) }
        if let password = endpoint.password {
            let auth = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            guard let reply = call(auth), !reply.isError else {
                throw BackendError(.connect, "redis change feed: authentication failed")  // deinit frees the context
            }
        }
    }

    deinit { redisFree(context) }

    /// Whether the server publishes `expired` key events (CONFIG GET notify-keyspace-events
    /// has E, and x or A). False when CONFIG is not allowed.
    func expiryEventsEnabled() -> Bool {
        guard let reply = call(["CONFIG", "GET", "notify-keyspace-events"]), reply.parts.count == 2 else { return false }
        let flags = reply.parts[1]
        return flags.contains("E") && (flags.contains("x") || flags.contains("A"))
    }

    /// A command answered synchronously (before SUBSCRIBE only).
    private func call(_ args: [String]) -> (parts: [String], isError: Bool)? {
        let packed = RedisCommand(args)
        let raw: UnsafeMutableRawPointer? = packed.withArgv { argv, lengths in redisCommandArgv(context, Int32(packed.count), argv, lengths) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        let r = raw.assumingMemoryBound(to: redisReply.self)
        return (Self.strings(r), r.pointee.type == REDIS_REPLY_ERROR)
    }

    /// Writes a command without reading its reply.
    func send(_ args: [String]) -> Bool {
        let packed = RedisCommand(args)
        let rc = packed.withArgv { argv, lengths in redisAppendCommandArgv(context, Int32(packed.count), argv, lengths) }
        guard rc == REDIS_OK else { return false }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { return false }
        }
        return true
    }

    /// The next reply: one already buffered, else one that arrives within `timeoutMs`.
    func next(timeoutMs: Int32) -> Next {
        if let r = buffered() { return r }
        var p = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, timeoutMs)
        if n < 0 { return errno == EINTR ? .nothing : .failed("poll: \(String(cString: strerror(errno)))") }
        if n == 0 { return .nothing }
        if redisBufferRead(context) != REDIS_OK { return .failed("redis change feed: \(Self.errorText(context))") }
        return buffered() ?? .nothing
    }

    private func buffered() -> Next? {
        var raw: UnsafeMutableRawPointer? = nil
        if redisGetReplyFromReader(context, &raw) != REDIS_OK { return .failed("redis change feed: protocol error") }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        let r = raw.assumingMemoryBound(to: redisReply.self)
        if r.pointee.type == REDIS_REPLY_ERROR { return .refused(Self.strings(r).first ?? "") }
        return .reply(Self.strings(r))
    }

    /// A reply as strings: an array's string elements, or the one string.
    private static func strings(_ r: UnsafeMutablePointer<redisReply>) -> [String] {
        func text(_ e: UnsafeMutablePointer<redisReply>) -> String {
            guard let s = e.pointee.str, e.pointee.len > 0 else { return e.pointee.type == REDIS_REPLY_INTEGER ? String(e.pointee.integer) : "" }
            return String(decoding: UnsafeRawBufferPointer(start: s, count: e.pointee.len), as: UTF8.self)
        }
        if r.pointee.type == REDIS_REPLY_ARRAY {
            return (0..<r.pointee.elements).map { i in r.pointee.element[i].map(text) ?? "" }
        }
        return [text(r)]
    }

    private static func errorText(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { buf in String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
