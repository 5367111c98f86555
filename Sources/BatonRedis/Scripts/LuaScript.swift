public import BatonCore

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
    public func run(on connection: any RedisCommanding, keys: [String], args: [String]) throws(BackendError) -> RedisReply {
        try run(on: connection, keys: keys) { command, _ in for a in args { command.append(a) } }
    }

    /// Runs the script with arguments appended once the connection is up, knowing the run
    /// id of the server that will run it (see ``RedisConnection/command(building:)``).
    public func run(on connection: any RedisCommanding, keys: [String],
                    args: (_ command: inout RedisCommand, _ serverRunId: String) -> Void) throws(BackendError) -> RedisReply {
        try run(on: connection, keyCount: keys.count, keys: { command in for k in keys { command.append(k) } }, args: args)
    }

    /// Runs the script with its `keyCount` keys appended by `keys` (the hot path spells
    /// them straight into the command, see ``RedisKeys``).
    public func run(on connection: any RedisCommanding, keyCount: Int, keys: (_ command: inout RedisCommand) -> Void,
                    args: (_ command: inout RedisCommand, _ serverRunId: String) -> Void) throws(BackendError) -> RedisReply {
        var reply = try connection.command { evalsha(keyCount: keyCount, keys: keys, args: args, serverRunId: $0) }
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            reply = try connection.command { command("EVAL", source, keyCount: keyCount, keys: keys, args: args, serverRunId: $0) }
        }
        if case .error(let message) = reply {
            throw BackendError(.protocolError, "script \(name): \(message.prefix(200))")
        }
        return reply
    }

    /// The `EVALSHA` call of the script for the server whose run id is `serverRunId` (also
    /// what the Redis pipeline sends; a NOSCRIPT answer then goes through ``run(on:keyCount:keys:args:)``).
    func evalsha(keyCount: Int, keys: (_ command: inout RedisCommand) -> Void,
                 args: (_ command: inout RedisCommand, _ serverRunId: String) -> Void, serverRunId: String) -> RedisCommand {
        command("EVALSHA", sha, keyCount: keyCount, keys: keys, args: args, serverRunId: serverRunId)
    }

    private func command(_ verb: StaticString, _ body: String, keyCount: Int, keys: (_ command: inout RedisCommand) -> Void,
                         args: (_ command: inout RedisCommand, _ serverRunId: String) -> Void, serverRunId: String) -> RedisCommand {
        // Room for the scripts' arguments (names, holder, run id, ~15 of them) at once.
        var command = RedisCommand(capacity: body.utf8.count + 512)
        command.append(verb, "", "")
        command.append(body)
        command.append(keyCount)
        keys(&command)
        args(&command, serverRunId)
        return command
    }
}
