import BatonSupport
import CMHDShim
import CMicroHTTPD
import Glibc
import Synchronization

/// An HTTP/1.1 server on libmicrohttpd: an internal thread pool, keep-alive, body, header
/// and idle limits, a header deadline (``HeaderDeadline``), and a graceful stop.
///
/// The worker threads wait with poll(2) by default, not epoll. libmicrohttpd 0.9.75's epoll
/// loop (`MHD_epoll`) drains events 128 at a time and, when a call returns exactly 128, calls
/// `epoll_wait` again with the timeout it computed before the first call (up to the idle
/// timeout), although the connections it has just collected are still to be served. With
/// edge-triggered connections and nothing else arriving (a worker at its share of the
/// connection limit has taken the listen socket out of its set) the worker sleeps for the
/// idle timeout with those requests unread: the "burst after slowloris" stall in
/// chaos/README.md (gdb: the worker in `epoll_wait(.., 128, 29368)` with 806 unread requests).
/// poll is level-triggered and serves what it found in the same iteration.
///
/// libmicrohttpd calls the access handler several times per request. Answering on the
/// first call makes 0.9.75 close keep-alive connections (about 6x slower), so the first
/// call only allocates the per-request state, body chunks are accumulated on the next
/// calls, and the handler runs on the last one (body complete).
public final class HTTPServer: Sendable {
    public let settings: ServerSettings
    private let context: ServerContext
    /// The MHD daemon's address (0 when not running). Kept as an integer because
    /// OpaquePointer is not Sendable; only `start` and `stop` use it.
    private let daemonAddress = Atomic<Int>(0)

    public init(settings: ServerSettings, handler: any HTTPHandler, observer: (any HTTPObserver)? = nil) {
        self.settings = settings
        self.context = ServerContext(handler: handler, observer: observer, maxBody: settings.maxBodyBytes,
                                     deadline: HeaderDeadline(timeoutMs: settings.headerTimeoutMs, idleSeconds: settings.idleTimeoutSeconds))
    }

    /// A server dropped while running stops at once: libmicrohttpd's callbacks hold an
    /// unretained pointer to its context, and the header-deadline reaper would run on.
    deinit {
        stop(graceMs: 0)
    }

    /// The port actually bound (useful with port 0).
    public private(set) var port: Int {
        get { context.port.load(ordering: .relaxed) }
        set { context.port.store(newValue, ordering: .relaxed) }
    }

    /// Binds and starts serving on background threads.
    public func start() throws(ServerError) {
        var address = try ListenAddress(settings.listen)
        let cls = Unmanaged.passUnretained(context).toOpaque()
        let deadline = context.deadline.enabled
        let started: OpaquePointer? = withUnsafePointer(to: &address.storage) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                var s = baton_mhd_settings(
                    address: sa, thread_pool_size: UInt32(max(1, settings.threads)),
                    connection_timeout_s: UInt32(settings.idleTimeoutSeconds),
                    connection_limit: UInt32(settings.connectionLimit),
                    connection_memory_limit: settings.connectionMemoryBytes,
                    listen_backlog: UInt32(settings.listenBacklog), use_epoll: settings.eventLoop == .epoll ? 1 : 0,
                    notify_connection: deadline ? connectionNotified : nil, notify_connection_cls: cls,
                    uri_received: deadline ? requestLineReceived : nil, uri_received_cls: cls,
                    message: context.observer == nil ? nil : serverMessage, message_cls: cls)
                return baton_mhd_start(&s, accessHandler, cls, requestCompleted, cls)
            }
        }
        guard let d = started else {
            throw ServerError("cannot listen on \(settings.listen): \(String(cString: strerror(errno)))")
        }
        daemonAddress.store(Int(bitPattern: UnsafeRawPointer(d)), ordering: .sequentiallyConsistent)
        port = Int(baton_mhd_bound_port(d))
        context.deadline.start()
    }

    /// Connections closed so far because their request headers, body or answer missed the deadline.
    public var headerDeadlineClosures: Int { context.deadline.closed.load(ordering: .relaxed) }

    /// Times the heap was trimmed after many connections closed (``HeaderDeadline``).
    public var heapTrims: Int { context.deadline.trims.load(ordering: .relaxed) }

    /// Requests being handled right now (begun and not yet completed).
    public var inFlight: Int { context.inFlight.load(ordering: .relaxed) }

    /// Stops accepting connections, lets in-flight requests finish (answering them with
    /// `Connection: close`) for at most `graceMs`, then stops. Returns the requests cut off.
    @discardableResult
    public func stop(graceMs: Int = 8_000) -> Int {
        let address = daemonAddress.exchange(0, ordering: .sequentiallyConsistent)
        guard let raw = UnsafeRawPointer(bitPattern: address) else { return 0 }
        let d = OpaquePointer(raw)
        context.draining.store(true, ordering: .relaxed)
        let fd = MHD_quiesce_daemon(d)
        if fd >= 0 { Glibc.close(fd) }
        // libmicrohttpd must not be stopped with suspended connections (microhttpd.h): the
        // owners of held requests should have answered them by now; whatever is left gets a 503.
        for stream in context.streams.withLock({ Array($0.values) }) { stream.finish() }
        for held in context.held.all() {
            held.fulfill(Problem.unavailable("batond", retryAfterMs: 1_000, detail: "batond is shutting down; retry on another replica").response)
        }
        var waited = 0
        while context.inFlight.load(ordering: .relaxed) > 0 && waited < graceMs {
            usleep(10_000)
            waited += 10
        }
        let cut = context.inFlight.load(ordering: .relaxed)
        MHD_stop_daemon(d)
        context.deadline.stop()
        return cut
    }
}

/// State shared by all worker threads; passed to the C callbacks as `cls`.
final class ServerContext: Sendable {
    let handler: any HTTPHandler
    let observer: (any HTTPObserver)?
    let maxBody: Int
    let inFlight = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    let port = Atomic<Int>(0)
    let deadline: HeaderDeadline
    /// Requests held without a worker (``DeferredResponse``), answered at the latest by `stop`.
    let held = HeldRequests()
    /// Open event streams (suspended while idle), finished by `stop`.
    let streams = Mutex<[ObjectIdentifier: EventStream]>([:])

    init(handler: any HTTPHandler, observer: (any HTTPObserver)?, maxBody: Int, deadline: HeaderDeadline) {
        self.handler = handler
        self.observer = observer
        self.maxBody = maxBody
        self.deadline = deadline
    }
}

/// One request's state between libmicrohttpd calls; owned through `*con_cls`.
private final class PendingRequest {
    let startNs: UInt64 = MonotonicClock.nanoseconds()
    var body: [UInt8] = []
    var tooLarge = false
    var answered = false
    /// A held request: its answer and the request it answers.
    var deferred: DeferredResponse?
    var request: HTTPRequest?
}

/// The connection's header-deadline clock, when the deadline is on.
private func clock(of connection: OpaquePointer) -> ConnectionClock? {
    baton_mhd_socket_context(connection).map { Unmanaged<ConnectionClock>.fromOpaque($0).takeUnretainedValue() }
}

/// Connection opened or closed: give it a header-deadline clock, or drop it.
private func connectionNotified(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ code: MHD_ConnectionNotificationCode
) {
    guard let cls, let connection, let socketContext else { return }
    let deadline = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().deadline
    if code == .CONNECTION_NOTIFY_STARTED {
        let fd = baton_mhd_connection_fd(connection)
        guard fd >= 0 else { return }
        socketContext.pointee = Unmanaged.passRetained(deadline.opened(fd: fd)).toOpaque()
    } else if let raw = socketContext.pointee {
        let clock = Unmanaged<ConnectionClock>.fromOpaque(raw)
        deadline.closed(clock.takeUnretainedValue())
        clock.release()
        socketContext.pointee = nil
    }
}

/// A message of libmicrohttpd itself, already formatted by the shim: to the observer.
private func serverMessage(_ cls: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let cls, let message else { return }
    Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().observer?.serverMessage(String(cString: message))
}

/// The request line is in: its headers get at most the header timeout from now.
private func requestLineReceived(_ cls: UnsafeMutableRawPointer?, _ uri: UnsafePointer<CChar>?,
                                 _ connection: OpaquePointer?) -> UnsafeMutableRawPointer? {
    guard let cls, let connection, let clock = clock(of: connection) else { return nil }
    Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().deadline.requestLineReceived(clock)
    return nil  // becomes the first *con_cls: must stay nil (see accessHandler)
}

private func accessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?, _ uploadData: UnsafePointer<CChar>?,
    _ uploadSize: UnsafeMutablePointer<Int>?, _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let conCls, let uploadSize else { return MHD_Result.NO }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()

    // First call: headers are in; allocate state and answer later (keeps keep-alive alive).
    guard let raw = conCls.pointee else {
        if server.deadline.enabled, let clock = clock(of: connection) { server.deadline.headersComplete(clock) }
        let pending = PendingRequest()
        conCls.pointee = Unmanaged.passRetained(pending).toOpaque()
        server.inFlight.add(1, ordering: .relaxed)
        // A body declared too large is refused before it is read. libmicrohttpd accepts a
        // response only now or once the upload is complete, and closes the connection after.
        if let cl = lookup(connection, MHD_ValueKind.HEADER_KIND, "Content-Length"), let n = Int(cl), n > server.maxBody {
            pending.answered = true
            if server.deadline.enabled, let clock = clock(of: connection) { server.deadline.answering(clock) }
            let request = collect(connection, url, method, body: [], server: server)
            return respond(connection, Problem.tooLarge(limit: server.maxBody).response, request, pending, server, close: true)
        }
        return MHD_Result.YES
    }
    let pending = Unmanaged<PendingRequest>.fromOpaque(raw).takeUnretainedValue()
    // Resumed after a deferred answer arrived: queue it now, on this worker.
    if let deferred = pending.deferred, let request = pending.request {
        guard let response = deferred.take() else { return MHD_Result.YES }
        pending.deferred = nil
        server.held.remove(deferred)
        return respond(connection, response, request, pending, server, close: server.draining.load(ordering: .relaxed))
    }
    if pending.answered {
        uploadSize.pointee = 0  // discard the rest of an oversized body
        return MHD_Result.YES
    }

    let chunk = uploadSize.pointee
    if chunk > 0 {
        // A chunked body that grows past the limit: stop keeping it, answer 413 at the end.
        if pending.body.count + chunk > server.maxBody {
            pending.tooLarge = true
            pending.body = []
        } else if !pending.tooLarge, let data = uploadData {
            data.withMemoryRebound(to: UInt8.self, capacity: chunk) { pending.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: chunk)) }
        }
        uploadSize.pointee = 0
        return MHD_Result.YES
    }

    pending.answered = true
    if server.deadline.enabled, let clock = clock(of: connection) { server.deadline.answering(clock) }
    if pending.tooLarge {
        let request = collect(connection, url, method, body: [], server: server)
        return respond(connection, Problem.tooLarge(limit: server.maxBody).response, request, pending, server, close: true)
    }
    let request = collect(connection, url, method, body: pending.body, server: server)
    let response = server.handler.handle(request)
    if let deferred = response.deferred {
        pending.deferred = deferred
        pending.request = request
        server.held.add(deferred)
        let address = Int(bitPattern: UnsafeRawPointer(connection))
        guard let now = deferred.suspendUnlessAnswered(connection: address, { MHD_suspend_connection(connection) }) else {
            return MHD_Result.YES
        }
        pending.deferred = nil
        server.held.remove(deferred)
        return respond(connection, now, request, pending, server, close: server.draining.load(ordering: .relaxed))
    }
    return respond(connection, response, request, pending, server, close: server.draining.load(ordering: .relaxed))
}

private func requestCompleted(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ code: MHD_RequestTerminationCode
) {
    guard let cls else { return }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    if server.deadline.enabled, let connection, let clock = clock(of: connection) { server.deadline.requestCompleted(clock) }
    guard let conCls, let raw = conCls.pointee else { return }
    Unmanaged<PendingRequest>.fromOpaque(raw).release()
    conCls.pointee = nil
    server.inFlight.subtract(1, ordering: .relaxed)
}

/// Copies method, path, headers and query out of libmicrohttpd. Path and query arguments
/// come with their escapes intact (shim.c) and are decoded here; the query string is also
/// kept escaped, re-joined from the arguments, for readers that must decode it their own way
/// (the Jellyfin token: ASP.NET rules, TokenExtractor).
private func collect(_ connection: OpaquePointer, _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?,
                     body: [UInt8], server: ServerContext) -> HTTPRequest {
    var values = CollectedValues()
    withUnsafeMutablePointer(to: &values) { p in
        _ = MHD_get_connection_values(connection, MHD_ValueKind.HEADER_KIND, collectHeader, p)
        _ = MHD_get_connection_values(connection, MHD_ValueKind.GET_ARGUMENT_KIND, collectQuery, p)
    }
    let incoming = values.headers.first("x-request-id")
    let id = incoming.flatMap { isSafeRequestId($0) ? RequestId.given($0) : nil } ?? RequestId.next()
    var request = HTTPRequest(method: method.map { String(cString: $0) } ?? "GET", path: url.map(URIDecoding.decoded) ?? "/",
                              headerFields: values.headers, query: values.query, body: body, id: id,
                              queryString: values.queryString)
    request.concurrency = server.inFlight.load(ordering: .relaxed)
    return request
}

private struct CollectedValues {
    var headers = HeaderFields()
    var query: [(String, String)] = []
    var queryString = ""
}

/// Called once per header line, repeated names included.
private func collectHeader(_ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind, _ key: UnsafePointer<CChar>?,
                           _ value: UnsafePointer<CChar>?) -> MHD_Result {
    guard let cls, let key else { return MHD_Result.YES }
    let values = cls.assumingMemoryBound(to: CollectedValues.self)
    let name = UnsafeBufferPointer(start: UnsafeRawPointer(key).assumingMemoryBound(to: UInt8.self), count: strlen(key))
    values.pointee.headers.appendReceived(name: name, value: value.map(fieldValue) ?? UnsafeBufferPointer(start: nil, count: 0))
    return MHD_Result.YES
}

/// A header value without trailing blanks: libmicrohttpd 0.9.75 strips the leading ones
/// only, and a field value's surrounding whitespace is not part of it (RFC 9110 5.5; Kestrel,
/// in front of Jellyfin, strips both), so `X-Emby-Token: <token>  ` is the token.
private func fieldValue(_ value: UnsafePointer<CChar>) -> UnsafeBufferPointer<UInt8> {
    var n = strlen(value)
    while n > 0 && (value[n - 1] == 0x20 || value[n - 1] == 0x09) { n -= 1 }
    return UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: n)
}

private func collectQuery(_ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind, _ key: UnsafePointer<CChar>?,
                          _ value: UnsafePointer<CChar>?) -> MHD_Result {
    guard let cls, let key else { return MHD_Result.YES }
    let values = cls.assumingMemoryBound(to: CollectedValues.self)
    values.pointee.query.append((URIDecoding.decoded(key), value.map(URIDecoding.decoded) ?? ""))
    // libmicrohttpd split the query at each `&` and the first `=`: joined again, it reads as sent.
    if !values.pointee.queryString.isEmpty { values.pointee.queryString += "&" }
    values.pointee.queryString += String(cString: key)
    if let value { values.pointee.queryString += "=" + String(cString: value) }
    return MHD_Result.YES
}

private func lookup(_ connection: OpaquePointer, _ kind: MHD_ValueKind, _ name: String) -> String? {
    MHD_lookup_connection_value(connection, kind, name).map { String(cString: $0) }
}

private func respond(_ connection: OpaquePointer, _ response: HTTPResponse, _ request: HTTPRequest,
                     _ pending: PendingRequest, _ server: ServerContext, close: Bool) -> MHD_Result {
    let made: OpaquePointer?
    if let stream = response.stream {
        server.streams.withLock { open in
            open = open.filter { !$0.value.isOver }
            open[ObjectIdentifier(stream)] = stream
        }
        // A stream has no answer deadline (HeaderDeadline): it is bounded by its buffer limit.
        let binding = StreamBinding(stream: stream, connection: Int(bitPattern: UnsafeRawPointer(connection)))
        made = MHD_create_response_from_callback(UInt64.max, 4096, streamRead, Unmanaged.passRetained(binding).toOpaque(), streamFreed)
        if made == nil { stream.closed() }
    } else {
        made = response.body.withUnsafeBytes { buf in
            MHD_create_response_from_buffer(buf.count, UnsafeMutableRawPointer(mutating: buf.baseAddress), MHD_ResponseMemoryMode.RESPMEM_MUST_COPY)
        }
    }
    guard let r = made else { return MHD_Result.NO }
    for (name, value) in response.headers { addHeader(r, name, value) }
    request.id.withCString { id in _ = baton_mhd_add_header(r, "X-Request-Id", id) }
    if close { addHeader(r, "Connection", "close") }
    let result = MHD_queue_response(connection, UInt32(response.status), r)
    MHD_destroy_response(r)
    if response.stream == nil, server.deadline.enabled, let clock = clock(of: connection) { server.deadline.sending(clock) }
    server.observer?.served(request, response, durationNs: MonotonicClock.nanoseconds() - pending.startNs)
    return result
}

/// `withCString` rather than passing the Strings to C directly: the implicit conversion
/// copies a short string (most header names and values) into a new heap array.
private func addHeader(_ response: OpaquePointer, _ name: String, _ value: String) {
    name.withCString { n in value.withCString { v in _ = baton_mhd_add_header(response, n, v) } }
}

/// Request ids from clients are echoed only when short and plain (they go into logs).
private func isSafeRequestId(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x3A
    }
}

