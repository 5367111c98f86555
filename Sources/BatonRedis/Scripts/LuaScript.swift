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
        try run(on: connection, keys: keys) { _ in args }
    }

    /// Runs the script with arguments built once the connection is up, from the run id of
    /// the server that will run it (see ``RedisConnection/command(building:)``).
    public func run(on connection: RedisConnection, keys: [String],
                    args: (_ serverRunId: String) -> [String]) throws(BackendError) -> RedisReply {
        func argv(_ verb: String, _ body: String, _ runId: String) -> [[UInt8]] {
            let a = args(runId)
            var argv: [[UInt8]] = [Array(verb.utf8), Array(body.utf8), Array(String(keys.count).utf8)]
            argv.reserveCapacity(3 + keys.count + a.count)
            for k in keys { argv.append(Array(k.utf8)) }
            for x in a { argv.append(Array(x.utf8)) }
            return argv
        }
        var reply = try connection.command { argv("EVALSHA", sha, $0) }
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            reply = try connection.command { argv("EVAL", source, $0) }
        }
        if case .error(let message) = reply {
            throw BackendError(.protocolError, "script \(name): \(message.prefix(200))")
        }
        return reply
    }
}
