import BatonCore

/// What a Redis error reply means for batond: an outage (count it toward the breaker), a
/// misconfiguration (503 naming the fix, never a degraded grant), or an ordinary answer
/// the caller handles (NOSCRIPT, a script's own error).
///
/// The texts are Redis 7.0's (server.c, acl.c, script.c), checked against redis-server
/// 7.0.15 with ACL users in `RedisMisconfigurationTests`.
enum RedisErrorClass: Equatable {
    case unavailable
    case misconfigured(Misconfiguration)
    case answer

    /// - Parameter followsFailover: true under Sentinel, where READONLY means "this server
    ///   was demoted: ask the sentinels again", an outage of the moment rather than a setup error.
    /// - Parameter inCluster: true for redis-cluster://, where MOVED and ASK are redirections
    ///   the cluster client follows (see ``ClusterRouter``), not a setup error.
    static func of(_ message: String, followsFailover: Bool = false, inCluster: Bool = false) -> RedisErrorClass {
        let word = message.prefix { $0 != " " }
        switch word {
        case "LOADING", "MASTERDOWN", "BUSY", "CLUSTERDOWN", "TRYAGAIN", "MISCONF":
            return .unavailable
        case "READONLY":
            return followsFailover ? .unavailable : .misconfigured(.isReplica)
        case "NOPERM":
            return .misconfigured(.aclDenied)
        case "WRONGPASS":
            return .misconfigured(.authFailed)
        case "NOAUTH":
            return .misconfigured(.authRequired)
        case "OOM":
            return .misconfigured(.outOfMemory)
        case "MOVED", "ASK":
            return inCluster ? .answer : .misconfigured(.clusterMode)
        case "CROSSSLOT":
            return .misconfigured(.clusterMode)
        default:
            break
        }
        // A script's redis.call refused by the ACL is a plain ERR (script.c, Redis 7.0).
        if message.contains("The user executing the script can't") { return .misconfigured(.aclDenied) }
        if message.hasPrefix("ERR unknown command") { return .misconfigured(.unknownCommand) }
        if message.hasPrefix("ERR AUTH <password> called without any password configured")
            || message.hasPrefix("ERR invalid password") || message.hasPrefix("ERR invalid username-password") {
            return .misconfigured(.authFailed)
        }
        if message.hasPrefix("ERR DB index is out of range") || message.hasPrefix("ERR SELECT is not allowed in cluster mode") {
            return .misconfigured(.badDatabase)
        }
        return .answer
    }
}
