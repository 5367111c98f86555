import BatonCore

/// Checks, without touching any lease or task, that the ACL lets batond's scripts run:
/// EVALSHA and EVAL, SCAN, and every command the scripts call on keys shaped like theirs.
///
/// One EVAL calls each command with `redis.pcall` on two probe keys whose hash tag is not
/// a valid lease or task name (so no real key can collide) and deletes them; a refusal
/// comes back as the command's name. The probe keys carry a 1 s expiry in case DEL itself
/// is refused.
enum RedisACLProbe {
    /// Every command the scripts call, with arguments of the right arity.
    /// `RedisACLProbeTests` checks that this covers every `redis.call` in the scripts.
    static let commands: [(name: String, lua: String)] = [
        ("SET", "'SET', KEYS[1], '1', 'PX', '1000'"),
        ("EXISTS", "'EXISTS', KEYS[1]"),
        ("PEXPIRE", "'PEXPIRE', KEYS[1], '1000'"),
        ("PTTL", "'PTTL', KEYS[1]"),
        ("HSET", "'HSET', KEYS[2], 'probe', '1'"),
        ("HINCRBY", "'HINCRBY', KEYS[2], 'n', '1'"),
        ("HGET", "'HGET', KEYS[2], 'probe'"),
        ("HMGET", "'HMGET', KEYS[2], 'probe', 'n'"),
        ("TIME", "'TIME'"),
        ("DEL", "'DEL', KEYS[1], KEYS[2]"),
        // The change index's wake-up (issue 18), on the real channel: Redis 7 users get no
        // channel unless granted (`acl-pubsub-default resetchannels`). The payload is no key,
        // so the change feed ignores it.
        ("PUBLISH", "'PUBLISH', 'baton:changes', '~acl-probe'"),
    ]

    static let keys = ["baton:lease:{~acl-probe}", "baton:task:{~acl-probe}:meta"]

    static var source: String {
        var lua = "local denied = {}\nredis.pcall('PEXPIRE', KEYS[2], '1000')\n"
        for c in commands {
            // HSET creates the hash: give it its 1 s expiry right away.
            let after = c.name == "HSET" ? " redis.pcall('PEXPIRE', KEYS[2], '1000')" : ""
            lua += "do local r = redis.pcall(\(c.lua)) if type(r) == 'table' and r.err then denied[#denied + 1] = '\(c.name): ' .. r.err end\(after) end\n"
        }
        return lua + "return denied\n"
    }

    /// What the ACL refuses, as "COMMAND: reason" lines; empty when everything is allowed.
    static func run(on c: any RedisCommanding) throws(BackendError) -> [String] {
        var denied: [String] = []
        func refusal(_ words: [String]) throws(BackendError) {
            do {
                _ = try c.command(words: words)
            } catch where error.misconfiguration == .aclDenied || error.misconfiguration == .unknownCommand {
                denied.append("\(words[0]): \(error.message.prefix(100))")
            }
        }
        // An unknown sha answers NOSCRIPT when EVALSHA itself is allowed.
        try refusal(["EVALSHA", String(repeating: "0", count: 40), "0"])
        try refusal(["SCAN", "0", "MATCH", keys[0], "COUNT", "1"])
        // Under redis-cluster:// batond reads the slot map and follows ASK; elsewhere the
        // ACL is checked before the command runs, so a refusal shows on a standalone
        // server too (which then answers "cluster support disabled", an allowed answer).
        try refusal(["CLUSTER", "SLOTS"])
        try refusal(["ASKING"])
        // The change feed's keep-alive (its SUBSCRIBE is refused loudly by the feed itself:
        // a subscribed connection cannot be probed here without leaving it subscribed).
        try refusal(["PING"])
        do {
            let reply = try c.command(words: ["EVAL", source, "2"] + keys)
            if case .error(let m) = reply { denied.append("EVAL: \(m.prefix(100))") }
            for item in reply.array ?? [] { if let s = item.string { denied.append(String(s.prefix(120))) } }
        } catch where error.misconfiguration == .aclDenied || error.misconfiguration == .unknownCommand {
            denied.append("EVAL: \(error.message.prefix(100))")
        }
        return denied
    }
}
