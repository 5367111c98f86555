import BatonCore
public import BatonSupport

/// Where and how to reach Redis, parsed from `BATON_REDIS_URL`:
/// `redis://[[user]:password@]host[:port][/db]`, `unix:///path/to/socket[?db=N]`, or
/// `redis-sentinel://[[user]:password@]host1:26379,host2:26379[/db][?sentinel_password=..]#master`
/// (Lettuce's form; the credentials are the master's, `sentinel_password` the sentinels'), or
/// `redis-cluster://[[user]:password@]host1:6379,host2:6379[/0]` (seed nodes of a Redis
/// Cluster; the credentials are every node's, the database always 0).
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int
    /// Connect and per-command timeout.
    public var timeoutMs: Int
    /// Set for `redis-sentinel://`: `address` is then only where to start, and the master
    /// is whatever the sentinels name (see ``SentinelMaster``).
    public var sentinel: SentinelSettings?
    /// Set for `redis-cluster://`: the seed nodes the slot map is first read from (see
    /// ``ClusterSlotMap``); `address` is the first of them.
    public var clusterSeeds: [SentinelSettings.Host]?

    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0, timeoutMs: Int = 500) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.timeoutMs = timeoutMs
    }

    /// Parses a Redis URL; the error says what is wrong with it (never echoing a password).
    public init(url: String, timeoutMs: Int = 500) throws(ConfigurationError) {
        self.timeoutMs = timeoutMs
        if url.hasPrefix("unix://") {
            var rest = String(url.dropFirst("unix://".count))
            database = 0
            if let q = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: q)...]
                rest = String(rest[..<q])
                for pair in query.split(separator: "&") where pair.hasPrefix("db=") {
                    guard let db = Int(pair.dropFirst(3)), db >= 0 else { throw ConfigurationError("database number must be a non-negative integer") }
                    database = db
                }
            }
            guard rest.hasPrefix("/") else { throw ConfigurationError("unix socket path must be absolute (unix:///path)") }
            address = .unix(path: rest)
            return
        }
        if url.hasPrefix("rediss://") {
            throw ConfigurationError("rediss:// (TLS) is not supported: hiredis 0.14 has no TLS. Run the stunnel sidecar from docker/ (client mode, certificate verified) and point BATON_REDIS_URL at it as redis://127.0.0.1:6379/db; see docker/README.md, \"Redis over TLS\"")
        }
        let sentinelMode = url.hasPrefix("redis-sentinel://")
        let clusterMode = url.hasPrefix("redis-cluster://")
        guard url.hasPrefix("redis://") || sentinelMode || clusterMode else {
            throw ConfigurationError("must start with redis://, redis-sentinel://, redis-cluster:// or unix://")
        }
        var rest = Substring(url.dropFirst(sentinelMode ? "redis-sentinel://".count : clusterMode ? "redis-cluster://".count : "redis://".count))
        var masterName: String?
        var query: Substring = ""
        if sentinelMode {
            guard let hash = rest.lastIndex(of: "#") else { throw ConfigurationError("redis-sentinel:// needs the master's name after #, e.g. redis-sentinel://h1:26379,h2:26379/0#mymaster") }
            var fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
            // The query may come before the # (as in a URI) or after it (as some write it).
            if let q = fragment.firstIndex(of: "?") { query = fragment[fragment.index(after: q)...]; fragment = fragment[..<q] }
            guard !fragment.isEmpty else { throw ConfigurationError("the master's name after # is empty") }
            masterName = percentDecoded(String(fragment))
        }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = String(userinfo[..<colon])
                username = user.isEmpty ? nil : percentDecoded(user)
                password = percentDecoded(String(userinfo[userinfo.index(after: colon)...]))
            } else {
                password = percentDecoded(String(userinfo))
            }
        }
        // The query starts after the userinfo (a password may hold `?` and `#`). redis:// takes
        // none (`?password=` would otherwise end up in the host, which logs and /status show).
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        guard sentinelMode || query.isEmpty, !rest.contains("#") else {
            throw ConfigurationError("query and fragment are not supported in redis:// URLs (put the password before the host: redis://:PASSWORD@host)")
        }
        database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw ConfigurationError("database number must be a non-negative integer") }
                database = n
            }
        }
        if let masterName {
            var hosts: [SentinelSettings.Host] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let (h, p) = try Self.hostPort(part, defaultPort: 26379)
                hosts.append(SentinelSettings.Host(host: h, port: p))
            }
            var settings = SentinelSettings(hosts: hosts, masterName: masterName)
            for pair in query.split(separator: "&") {
                if pair.hasPrefix("sentinel_password=") {
                    settings.password = percentDecoded(String(pair.dropFirst("sentinel_password=".count)))
                } else if pair.hasPrefix("sentinel_username=") {
                    settings.username = percentDecoded(String(pair.dropFirst("sentinel_username=".count)))
                } else {
                    throw ConfigurationError("unknown option '\(pair.prefix { $0 != "=" }.prefix(40))' (known: sentinel_password, sentinel_username)")
                }
            }
            sentinel = settings
            address = .tcp(host: hosts[0].host, port: hosts[0].port)
            return
        }
        if clusterMode {
            // Redis Cluster has database 0 only (SELECT is refused in cluster mode).
            guard database == 0 else { throw ConfigurationError("redis-cluster:// has database 0 only (Redis Cluster refuses SELECT), got /\(database)") }
            var seeds: [SentinelSettings.Host] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let (h, p) = try Self.hostPort(part, defaultPort: 6379)
                seeds.append(SentinelSettings.Host(host: h, port: p))
            }
            clusterSeeds = seeds
            address = .tcp(host: seeds[0].host, port: seeds[0].port)
            return
        }
        let (host, port) = try Self.hostPort(rest, defaultPort: 6379)
        address = .tcp(host: host, port: port)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    static func hostPort(_ text: Substring, defaultPort: Int) throws(ConfigurationError) -> (String, Int) {
        var host = String(text)
        var port = defaultPort
        if host.hasPrefix("[") {  // [::1]:6379
            guard let close = host.firstIndex(of: "]") else { throw ConfigurationError("unterminated IPv6 address") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw ConfigurationError("port must be 1-65535") }
                port = p
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else { throw ConfigurationError("port must be 1-65535") }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw ConfigurationError("host is missing") }
        return (host, port)
    }

    /// The endpoint without credentials, safe for logs and `/status`.
    public var description: String {
        if let seeds = clusterSeeds {
            return "redis-cluster://\(seeds.map(\.description).joined(separator: ","))/0"
        }
        if let s = sentinel {
            return "redis-sentinel://\(s.hosts.map(\.description).joined(separator: ","))/\(database)#\(s.masterName)"
        }
        switch address {
        case .tcp(let host, let port): return "redis://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        case .unix(let path): return "unix://\(path)?db=\(database)"
        }
    }
}
