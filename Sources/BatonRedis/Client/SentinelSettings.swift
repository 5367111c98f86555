/// The sentinels to ask for the master, from a `redis-sentinel://` URL.
public struct SentinelSettings: Sendable, Equatable {
    public struct Host: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public var hosts: [Host]
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    public var masterName: String
    /// The sentinels' own credentials (`requirepass` in sentinel.conf), when they have one.
    public var username: String?
    public var password: String?

    public init(hosts: [Host], masterName: String, username: String? = nil, password: String? = nil) {
        self.hosts = hosts
        self.masterName = masterName
        self.username = username
        self.password = password
    }
}
