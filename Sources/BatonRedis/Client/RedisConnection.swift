public import BatonCore
import CHiredis
import Glibc

/// One blocking connection to Redis over hiredis.
///
/// Commands are argv-style only (binary safe, no format strings: framed by ``RESPWriter``,
/// sent by hiredis), with a command timeout so a hung server is a quick ``BackendError`` instead of a hung worker.
/// After any I/O error the context is unusable (the reply stream may be out of step), so
/// the connection closes itself and the next command reconnects.
/// Not thread-safe: each worker thread owns one (see ``PerThreadRedis``).
public final class RedisConnection {
    public let endpoint: RedisEndpoint
    private let identity: RedisServerIdentity?
    private(set) var context: UnsafeMutablePointer<redisContext>?
    /// The `run_id` of the server this connection reached ("" when it does not say).
    public private(set) var serverRunId = ""
    /// INFO's `redis_mode` of the server this connection reached ("" when INFO is denied).
    public private(set) var serverMode = ""
    /// ROLE's first word ("master"; "" when ROLE is denied).
    public private(set) var serverRole = ""

    /// Under Sentinel: who names the master this connection must reach.
    private let master: SentinelMaster?
    /// The ``SentinelMaster/generation`` of the master this connection reached.
    private var masterGeneration = -1
    /// Whether to check, on connecting, that the server is a master batond can use (not
    /// for connections to sentinels).
    private let checksServer: Bool
    /// A node of a redis-cluster:// deployment: MOVED and ASK are answers for the
    /// ``ClusterRouter`` to follow, the server is expected in cluster mode, and a replica
    /// (ROLE slave) is a failover the slot map has not caught up with yet.
    let clusterNode: Bool

    /// - Parameters:
    ///   - identity: told the server's run id on every new connection.
    ///   - master: under Sentinel, names the server to reach; every command first checks
    ///     it still does.
    public init(endpoint: RedisEndpoint, identity: RedisServerIdentity? = nil, master: SentinelMaster? = nil, checksServer: Bool = true,
                clusterNode: Bool = false) {
        self.endpoint = endpoint
        self.clusterNode = clusterNode
        self.identity = identity
        self.master = master
        self.checksServer = checksServer
    }

    /// Where this connection is (or would be) connected, for logs.
    public private(set) var connectedTo = ""

    /// Where hiredis builds this connection's replies (CHiredis' shim: one reusable block
    /// instead of a calloc per element); made with the first context, kept across reconnects.
    private var replies: UnsafeMutablePointer<baton_reply_arena>?

    deinit {
        close()
        baton_arena_free(replies)
    }

    /// Whether a live context is open.
    public var isOpen: Bool { context != nil }

    public func close() {
        if let c = context { redisFree(c) }
        context = nil
    }

    /// Runs one command; `.error` replies are returned, not thrown (scripts use them).
    public func command(_ args: [String]) throws(BackendError) -> RedisReply {
        let packed = RedisCommand(args)
        return try command { _ in packed }
    }

    /// Runs one command built once the connection is up.
    ///
    /// A connection kept from an earlier command may have been closed by the server in
    /// the meantime (a Redis restart, an idle timeout): an I/O error on such a connection
    /// is retried once on a fresh one, so a restart does not cost every worker a 503.
    /// Timeouts are not retried: the server may be hung.
    ///
    /// `build` gets the run id of the server the connection reached: a command that names
    /// the server (see ``FencingLua``) then always names the one that runs it, even when
    /// the first attempt reconnects.
    public func command(building build: (_ serverRunId: String) -> RedisCommand) throws(BackendError) -> RedisReply {
        if hasLeftServer { close() }
        let reused = context != nil
        do {
            do {
                return try attempt(build)
            } catch where reused && error.kind == .io {
                return try attempt(build)
            }
        } catch where master != nil && error.kind != .misconfigured {
            // A demoted or unreachable master: drop the connection and ask the sentinels.
            // A refusal (READONLY, LOADING, MASTERDOWN, a replica's ROLE) ran nothing, so it
            // is retried once when the sentinels already name another master; a timeout
            // is never retried (the command may have run).
            close()
            master?.suspect()
            guard error.kind == .server, let m = master, let now = try? m.master(maxAgeMs: 0), now.generation != masterGeneration else {
                throw error
            }
            return try attempt(build)
        }
    }

    private func attempt(_ build: (String) -> RedisCommand) throws(BackendError) -> RedisReply {
        let c = try connected()
        return try classified(try send(c, build(serverRunId))).get()
    }

    /// An error reply that means an outage or a misconfiguration is a failure; any other
    /// reply (other error replies included: scripts use them) is the command's answer.
    func classified(_ reply: RedisReply) -> Result<RedisReply, BackendError> {
        if case .error(let message) = reply {
            switch RedisErrorClass.of(message, followsFailover: followsFailover, inCluster: clusterNode) {
            case .unavailable: return .failure(BackendError(.server, message))
            case .misconfigured(let what): return .failure(BackendError(misconfigured: what, String(message.prefix(200))))
            case .answer: break
            }
        }
        return .success(reply)
    }

    /// Whether the open connection reaches a server batond should no longer use: one the
    /// sentinels no longer name, or one another worker has left (behind a TCP proxy that
    /// briefly routed new connections to two writable masters, each worker kept the one it
    /// reached and batond granted from both: chaos/proxy.py, overlapping tenures, tokens
    /// going back). The newest server any worker reached is the one; the others reconnect
    /// first.
    var hasLeftServer: Bool {
        guard context != nil else { return false }
        if let master, master.generation != masterGeneration { return true }
        if !serverRunId.isEmpty, let current = identity?.runId, current != serverRunId { return true }
        return false
    }

    /// Whether READONLY and a replica role mean "a failover happened" (Sentinel) rather
    /// than "the URL names a replica".
    var followsFailover: Bool { master != nil || clusterNode }

    /// Throws when an error reply to a set-up command is a misconfiguration or an outage.
    private func check(_ reply: RedisReply, _ what: String) throws(BackendError) {
        guard case .error(let m) = reply else { return }
        switch RedisErrorClass.of(m, followsFailover: followsFailover, inCluster: clusterNode) {
        case .misconfigured(let kind): throw BackendError(misconfigured: kind, "\(what): \(m.prefix(160))")
        case .unavailable: throw BackendError(.server, "\(what): \(m.prefix(160))")
        case .answer: throw BackendError(.connect, "\(what) failed: \(m.prefix(80))")
        }
    }

    private func send(_ c: UnsafeMutablePointer<redisContext>, _ command: RedisCommand) throws(BackendError) -> RedisReply {
        // Framed in Swift (RESPWriter) and written to the socket here; then redisGetReply,
        // its output buffer empty, only reads. What redisCommandArgv does, less its
        // formatter and less the output buffer hiredis allocates, grows and frees around
        // every command (about 700 instructions per POST /leader; callgrind, issue 17).
        var raw: UnsafeMutableRawPointer?
        let writeError = RESPWriter.withFramed(command) { resp in Self.write(resp, to: c.pointee.fd) }
        if writeError == 0 { _ = redisGetReply(c, &raw) }
        guard let raw else {
            var error = writeError == 0 ? Self.error(of: c, during: "command") : Self.error(writing: writeError)
            // hiredis writes the whole command before it reads: whatever failed, the server
            // may have received it and run it.
            error.outcomeUnknown = true
            close()
            throw error
        }
        defer { release(raw) }
        return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Lets go of a reply hiredis handed over, once it is copied.
    func release(_ raw: UnsafeMutableRawPointer) {
        if let replies { baton_arena_reset(replies) } else { freeReplyObject(raw) }
    }

    func connected() throws(BackendError) -> UnsafeMutablePointer<redisContext> {
        if let c = context { return c }
        let tv = timeval(tv_sec: endpoint.timeoutMs / 1000, tv_usec: (endpoint.timeoutMs % 1000) * 1000)
        let made: UnsafeMutablePointer<redisContext>?
        var address = endpoint.address
        if let master {
            let (host, generation) = try master.master()
            address = .tcp(host: host.host, port: host.port)
            masterGeneration = generation
        }
        switch address {
        case .tcp(let host, let port):
            connectedTo = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            made = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path):
            connectedTo = path
            made = redisConnectUnixWithTimeout(path, tv)
        }
        guard let c = made else { throw BackendError(.connect, "cannot allocate redis context") }
        if c.pointee.err != 0 {
            let error = Self.error(of: c, during: "connect", kind: .connect)
            redisFree(c)
            throw error
        }
        if replies == nil { replies = baton_arena_new(2048) }
        if let replies { baton_arena_install(c, replies) }
        _ = redisSetTimeout(c, tv)
        if case .tcp = endpoint.address { _ = redisEnableKeepAlive(c) }
        context = c
        do throws(BackendError) {
            if let password = endpoint.password {
                let auth = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                let reply = try send(c, RedisCommand(auth))
                if case .error(let m) = reply {
                    // Whatever the server says to a refused AUTH, the fix is the password.
                    throw BackendError(misconfigured: .authFailed, "AUTH: \(m.prefix(120))")
                }
            }
            guard checksServer else { return c }
            // INFO may be renamed or forbidden on managed Redis: then the run id is
            // unknown and only the counter floor guards against a server that forgot.
            let info = try send(c, RedisCommand(["INFO", "server"]))
            if case .error(let m) = info, !Self.tolerable(m) { try check(info, "INFO") }
            let fields = info.string.map(Self.fields(ofInfo:)) ?? [:]
            serverMode = fields["redis_mode"] ?? ""
            // A sentinel answers INFO but knows no data command: say so before SELECT
            // fails with "unknown command".
            if serverMode == "sentinel" {
                throw BackendError(misconfigured: .isSentinel, "\(connectedTo) is a Sentinel (INFO redis_mode:sentinel)")
            }
            if serverMode == "cluster" && !clusterNode {
                throw BackendError(misconfigured: .clusterMode, "\(connectedTo) is a Redis Cluster node (INFO redis_mode:cluster): use redis-cluster://host:port,...")
            }
            if clusterNode && serverMode != "cluster" && !serverMode.isEmpty {
                throw BackendError(misconfigured: .notCluster, "\(connectedTo) is not a Redis Cluster node (INFO redis_mode:\(serverMode.prefix(20))): use redis:// for it")
            }
            if endpoint.database != 0 { try check(try send(c, RedisCommand(["SELECT", String(endpoint.database)])), "SELECT") }
            // ROLE confirms the server takes writes; a minimal ACL may forbid it, and then
            // a replica shows itself by READONLY on the first write.
            let role = try send(c, RedisCommand(["ROLE"]))
            if case .error(let m) = role, !Self.tolerable(m) { try check(role, "ROLE") }
            serverRole = role.array?.first?.string ?? ""
            if serverRole == "sentinel" {
                throw BackendError(misconfigured: .isSentinel, "\(connectedTo) is a Sentinel (ROLE sentinel)")
            }
            if serverRole == "slave" {
                if clusterNode { throw BackendError(.server, "\(connectedTo) is a replica now (ROLE slave): the slot map is behind a failover") }
                if followsFailover { throw BackendError(.server, "\(connectedTo) is a replica now (ROLE slave): the sentinels have not caught up yet") }
                throw BackendError(misconfigured: .isReplica, "\(connectedTo) is a replica (ROLE slave)")
            }
            serverRunId = fields["run_id"] ?? ""
            identity?.observe(serverRunId)
        } catch {
            close()
            throw error
        }
        return c
    }

    /// INFO and ROLE denied or renamed cost a check, not the service (the start-up check
    /// says what is lost).
    private static func tolerable(_ message: String) -> Bool {
        let c = RedisErrorClass.of(message)
        return c == .misconfigured(.aclDenied) || c == .misconfigured(.unknownCommand)
    }

    /// The `field:value` lines of an INFO reply.
    static func fields(ofInfo info: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in info.split(whereSeparator: \.isNewline) {
            if let colon = line.firstIndex(of: ":") {
                fields[String(line[..<colon])] = String(line[line.index(after: colon)...].filter { !$0.isWhitespace })
            }
        }
        return fields
    }

    /// Writes all of `bytes` to the connection's socket, as hiredis' redisBufferWrite does
    /// (blocking, under the send timeout redisSetTimeout set; EINTR retried). Returns 0, or
    /// the errno that stopped it.
    static func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32 {
        guard var p = bytes.baseAddress else { return 0 }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.send(fd, p, left, Int32(MSG_NOSIGNAL))
            if n > 0 {
                p += n
                left -= n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return n < 0 ? errno : EPIPE
            }
        }
        return 0
    }

    /// A failed write of a command, as ``error(of:during:kind:)`` would name it.
    static func error(writing code: Int32) -> BackendError {
        let timedOut = code == EAGAIN || code == EWOULDBLOCK || code == ETIMEDOUT
        return BackendError(timedOut ? .timeout : .io, "redis command: write: \(String(cString: strerror(code)))")
    }

    static func error(of c: UnsafeMutablePointer<redisContext>, during what: String, kind: BackendError.Kind? = nil) -> BackendError {
        let text = withUnsafeBytes(of: c.pointee.errstr) { buf in
            String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
        }
        let err = c.pointee.err
        let timedOut = err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT)
            || text.lowercased().contains("timed out") || text.contains("temporarily unavailable")
        let k: BackendError.Kind = timedOut ? .timeout : (kind ?? (err == REDIS_ERR_PROTOCOL ? .protocolError : .io))
        return BackendError(k, "redis \(what): \(text.isEmpty ? "error \(err)" : text)")
    }

    static func copy(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(reply.elements)
            for i in 0..<reply.elements {
                if let e = reply.element[i] { items.append(copy(e)) } else { items.append(.null) }
            }
            return .array(items)
        default:
            return .null
        }
    }

    private static func bytes(_ p: UnsafeMutablePointer<CChar>?, _ n: Int) -> [UInt8] {
        guard let p, n > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n).bindMemory(to: UInt8.self))
    }
}
