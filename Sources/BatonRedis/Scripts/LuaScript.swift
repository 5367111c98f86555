import BatonCore

/// A Lua script run atomically by Redis: EVALSHA first, EVAL when the server does not
/// have it cached yet (after a restart or a failover), which also caches it.
public struct LuaScript: Sendable {
    public let name: String
    public let source: String
    public let sha: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        self.sha = SHA1.hex(source)
    }

    /// Runs the script; a Redis error reply other than NOSCRIPT is a protocol error
    /// (a bug, or an incompatible server), reported as a ``BackendError``.
    public func run(on connection: RedisConnection, keys: [String], args: [String]) throws(BackendError) -> RedisReply {
        var argv: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha.utf8), Array(String(keys.count).utf8)]
        argv.reserveCapacity(3 + keys.count + args.count)
        for k in keys { argv.append(Array(k.utf8)) }
        for a in args { argv.append(Array(a.utf8)) }
        var reply = try connection.command(argv)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            argv[0] = Array("EVAL".utf8)
            argv[1] = Array(source.utf8)
            reply = try connection.command(argv)
        }
        if case .error(let message) = reply {
            throw BackendError(.protocolError, "script \(name): \(message.prefix(200))")
        }
        return reply
    }
}
