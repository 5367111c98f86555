import BatonCore
import CHiredis
import Glibc

/// One blocking connection to Redis over hiredis.
///
/// Commands go through `redisCommandArgv` only (binary safe, no format strings), with a
/// command timeout so a hung server is a quick ``BackendError`` instead of a hung worker.
/// After any I/O error the context is unusable (the reply stream may be out of step), so
/// the connection closes itself and the next command reconnects.
/// Not thread-safe: each worker thread owns one (see ``PerThreadRedis``).
public final class RedisConnection {
    public let endpoint: RedisEndpoint
    private let identity: RedisServerIdentity?
    private var context: UnsafeMutablePointer<redisContext>?
    /// The `run_id` of the server this connection reached ("" when it does not say).
    public private(set) var serverRunId = ""

    /// - Parameter identity: told the server's run id on every new connection.
    public init(endpoint: RedisEndpoint, identity: RedisServerIdentity? = nil) {
        self.endpoint = endpoint
        self.identity = identity
    }

    deinit { close() }

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
        let reused = context != nil
        do {
            return try attempt(build)
        } catch where reused && error.kind == .io {
            return try attempt(build)
        }
    }

    private func attempt(_ build: (String) -> RedisCommand) throws(BackendError) -> RedisReply {
        let c = try connected()
        let reply = try send(c, build(serverRunId))
        if case .error(let message) = reply, Self.meansUnavailable(message) {
            throw BackendError(.server, message)
        }
        return reply
    }

    private func send(_ c: UnsafeMutablePointer<redisContext>, _ command: RedisCommand) throws(BackendError) -> RedisReply {
        let raw: UnsafeMutableRawPointer? = command.withArgv { argv, lengths in
            redisCommandArgv(c, Int32(command.count), argv, lengths)
        }
        guard let raw else {
            let error = Self.error(of: c, during: "command")
            close()
            throw error
        }
        defer { freeReplyObject(raw) }
        return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func connected() throws(BackendError) -> UnsafeMutablePointer<redisContext> {
        if let c = context { return c }
        let tv = timeval(tv_sec: endpoint.timeoutMs / 1000, tv_usec: (endpoint.timeoutMs % 1000) * 1000)
        let made: UnsafeMutablePointer<redisContext>?
        switch endpoint.address {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): made = redisConnectUnixWithTimeout(path, tv)
        }
        guard let c = made else { throw BackendError(.connect, "cannot allocate redis context") }
        if c.pointee.err != 0 {
            let error = Self.error(of: c, during: "connect", kind: .connect)
            redisFree(c)
            throw error
        }
        _ = redisSetTimeout(c, tv)
        if case .tcp = endpoint.address { _ = redisEnableKeepAlive(c) }
        context = c
        do throws(BackendError) {
            if let password = endpoint.password {
                let auth = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                if case .error(let m) = try send(c, RedisCommand(auth)) {
                    close()
                    throw BackendError(.connect, "authentication failed: \(m.prefix(80))")
                }
            }
            if endpoint.database != 0, case .error(let m) = try send(c, RedisCommand(["SELECT", String(endpoint.database)])) {
                close()
                throw BackendError(.connect, "SELECT failed: \(m.prefix(80))")
            }
            // INFO may be renamed or forbidden on managed Redis: then the run id is
            // unknown and only the counter floor guards against a server that forgot.
            let info = try send(c, RedisCommand(["INFO", "server"]))
            serverRunId = info.string.map(RedisServerIdentity.runId(fromInfo:)) ?? ""
            identity?.observe(serverRunId)
        } catch {
            close()
            throw error
        }
        return c
    }

    /// Server errors that mean "cannot serve now" rather than a bug in the request.
    static func meansUnavailable(_ message: String) -> Bool {
        for prefix in ["LOADING", "READONLY", "MASTERDOWN", "BUSY", "OOM", "CLUSTERDOWN", "TRYAGAIN", "NOAUTH", "MISCONF"]
        where message.hasPrefix(prefix) { return true }
        return false
    }

    private static func error(of c: UnsafeMutablePointer<redisContext>, during what: String, kind: BackendError.Kind? = nil) -> BackendError {
        let text = withUnsafeBytes(of: c.pointee.errstr) { buf in
            String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
        }
        let err = c.pointee.err
        let timedOut = err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT)
            || text.localizedCaseInsensitiveContains("timed out") || text.contains("temporarily unavailable")
        let k: BackendError.Kind = timedOut ? .timeout : (kind ?? (err == REDIS_ERR_PROTOCOL ? .protocolError : .io))
        return BackendError(k, "redis \(what): \(text.isEmpty ? "error \(err)" : text)")
    }

    private static func copy(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
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
