import BatonCore

/// Where and how to reach Redis, parsed from `BATON_REDIS_URL`:
/// `redis://[[user]:password@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`.
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
        guard url.hasPrefix("redis://") else { throw ConfigurationError("must start with redis:// or unix://") }
        var rest = Substring(url.dropFirst("redis://".count))
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
        // A query (`?password=`) is not read: it would otherwise end up in the host, and the
        // host is shown in logs and /status.
        guard !rest.contains("?"), !rest.contains("#") else { throw ConfigurationError("query and fragment are not supported in redis:// URLs (put the password before the host: redis://:PASSWORD@host)") }
        database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw ConfigurationError("database number must be a non-negative integer") }
                database = n
            }
        }
        var host = String(rest)
        var port = 6379
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
        address = .tcp(host: host, port: port)
    }

    /// The endpoint without credentials, safe for logs and `/status`.
    public var description: String {
        switch address {
        case .tcp(let host, let port): return "redis://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
        case .unix(let path): return "unix://\(path)?db=\(database)"
        }
    }
}
