import BatonCore

/// Facts about the Redis server that matter for safety.
public struct RedisServerInfo: Sendable, Equatable {
    public let version: String?
    public let runId: String?
    public let maxmemoryPolicy: String?

    /// Any policy but `noeviction` may evict lease keys (they all have TTLs, which is what
    /// `volatile-*` picks from): a live lease could vanish and be granted again.
    public var mayEvictLeases: Bool { maxmemoryPolicy.map { $0 != "noeviction" } ?? false }

    /// Reads INFO server and the eviction policy.
    public static func fetch(_ redis: PerThreadRedis) throws(BackendError) -> RedisServerInfo {
        let c = redis.connection
        let info = try c.command(["INFO", "server"]).string ?? ""
        var fields: [Substring: Substring] = [:]
        for line in info.split(whereSeparator: \.isNewline) {
            if let colon = line.firstIndex(of: ":") { fields[line[..<colon]] = line[line.index(after: colon)...] }
        }
        // CONFIG may be renamed or forbidden on managed Redis; then the policy is unknown.
        var policy: String?
        if case .array(let kv) = try c.command(["CONFIG", "GET", "maxmemory-policy"]), kv.count == 2 {
            policy = kv[1].string
        }
        return RedisServerInfo(version: fields["redis_version"].map(String.init), runId: fields["run_id"].map(String.init),
                               maxmemoryPolicy: policy)
    }
}
