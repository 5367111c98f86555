import BatonCore
public import BatonSupport
import Synchronization

/// Which master owns each of Redis Cluster's 16384 slots, from `CLUSTER SLOTS`: read at
/// the first command, every second by a watcher thread, and every 100 ms for a while after
/// a worker followed a `MOVED` or lost a node (``suspect()``), so a failover or a slot
/// migration is learnt within a fraction of a second of the first request that meets it.
///
/// `CLUSTER SLOTS` rather than `CLUSTER SHARDS`: both exist in Redis 7.0, SLOTS since 3.0
/// (so older managed clusters work too) and it names masters and replicas per range, which
/// is all batond needs.
///
/// It also keeps one ``RedisServerIdentity`` per node: the run_id guard of the scripts
/// (see ``FencingLua``) is per node, since each shard is its own server whose restart or
/// failover only its own keys live through.
public final class ClusterSlotMap: Sendable {
    public typealias Host = SentinelSettings.Host

    /// A master and the slots it owns, for `/status`.
    public struct Shard: Sendable, Equatable {
        public let master: String
        public let replicas: [String]
        /// Slot ranges as `first-last`.
        public let slots: [String]
    }

    /// A range of slots that changed master, as seen from here.
    public struct Failover: Sendable, Equatable {
        public let atMs: Int64
        public let from: String
        public let to: String
    }

    public struct Snapshot: Sendable {
        public let shards: [Shard]
        public let refreshes: Int
        public let redirects: Int
        public let failovers: Int
        public let migrations: Int
        public let lastFailover: Failover?
        public let lastError: String?
    }

    private struct State {
        /// Index into `nodes` per slot, -1 when no master is known.
        var owners = [Int32](repeating: -1, count: ClusterSlot.count)
        var nodes: [Host] = []
        var replicas: [String: [String]] = [:]
        var refreshes = 0
        var redirects = 0
        var failovers = 0
        var migrations = 0
        var lastFailover: Failover?
        var lastError: String?
        var identities: [String: RedisServerIdentity] = [:]
        var listeners: [@Sendable (Failover) -> Void] = []

        mutating func index(of host: Host) -> Int32 {
            if let i = nodes.firstIndex(of: host) { return Int32(i) }
            nodes.append(host)
            return Int32(nodes.count - 1)
        }
    }

    /// The most nodes remembered: Redis Cluster's own recommended maximum is 1000.
    static let nodeLimit = 1024

    public let seeds: [Host]
    /// Credentials and timeouts for every node (address replaced per node).
    let template: RedisEndpoint
    /// Told when a node restarts with a new run_id (each node's own identity passes it
    /// on); a range of slots changing master is told through ``onFailover(_:)``.
    let server: RedisServerIdentity
    private let clock: any Clock
    private let state = Mutex(State())
    private let refreshing = Atomic<Bool>(false)
    /// The connections CLUSTER SLOTS is asked on; used only by the thread that set `refreshing`.
    private let askers = Mutex<[String: RedisConnection]>([:])
    private let suspectUntilMs = Atomic<Int64>(0)

    public init(seeds: [Host], template: RedisEndpoint, server: RedisServerIdentity, clock: any Clock = SystemClock()) {
        self.seeds = seeds
        self.template = template
        self.server = server
        self.clock = clock
    }

    /// The endpoint of one node (credentials and timeout of the URL).
    func endpoint(of host: Host) -> RedisEndpoint {
        RedisEndpoint(address: .tcp(host: host.host, port: host.port), username: template.username, password: template.password,
                      database: 0, timeoutMs: template.timeoutMs)
    }

    /// The master owning `slot`, reading the map first when it was never read.
    public func owner(ofSlot slot: Int) -> Host? {
        if let h = known(slot) { return h }
        refresh()
        return known(slot)
    }

    private func known(_ slot: Int) -> Host? {
        state.withLock { s in
            let i = s.owners[slot]
            return i < 0 ? nil : s.nodes[Int(i)]
        }
    }

    /// Every master the map names now.
    public func masters() -> [Host] {
        if state.withLock({ $0.owners.allSatisfy { $0 < 0 } }) { refresh() }
        return state.withLock { s in
            var seen = Set<Int32>()
            for o in s.owners where o >= 0 { seen.insert(o) }
            return seen.sorted().map { s.nodes[Int($0)] }
        }
    }

    /// A worker was told `MOVED slot host:port`: the slot is there from now on, and the
    /// rest of the map is read again soon (a MOVED seldom comes alone).
    func moved(slot: Int, to host: Host) {
        state.withLock { s in
            if s.nodes.count < Self.nodeLimit || s.nodes.contains(host) { s.owners[slot] = s.index(of: host) }
            s.redirects += 1
        }
        suspect()
    }

    /// A worker lost a node or met a redirection: read the map now, then every 100 ms for 10 s.
    public func suspect() {
        suspectUntilMs.store(clock.monotonicMs() + 10_000, ordering: .relaxed)
    }

    /// Whether the watcher should poll at the fast rate.
    public var suspecting: Bool { clock.monotonicMs() < suspectUntilMs.load(ordering: .relaxed) }

    /// Calls `listener` after a range of slots changed master (on the thread that saw it).
    public func onFailover(_ listener: @escaping @Sendable (Failover) -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// The run_id record of one node (see ``RedisServerIdentity``); a restart of that node
    /// is passed on to ``server``'s listeners.
    func identity(of host: Host) -> RedisServerIdentity {
        let key = host.description
        let (identity, made) = state.withLock { s -> (RedisServerIdentity, Bool) in
            if let i = s.identities[key] { return (i, false) }
            let i = RedisServerIdentity()
            if s.identities.count < Self.nodeLimit { s.identities[key] = i }
            return (i, true)
        }
        if made {
            let server = self.server
            identity.onChange { old, new in server.announce(old, new) }
        }
        return identity
    }

    public var snapshot: Snapshot {
        state.withLock { s in
            var ranges: [Int32: [String]] = [:]
            var start = 0
            while start < ClusterSlot.count {
                let o = s.owners[start]
                var end = start
                while end + 1 < ClusterSlot.count && s.owners[end + 1] == o { end += 1 }
                if o >= 0 { ranges[o, default: []].append(start == end ? "\(start)" : "\(start)-\(end)") }
                start = end + 1
            }
            let shards = ranges.keys.sorted().map { i -> Shard in
                let m = s.nodes[Int(i)].description
                return Shard(master: m, replicas: s.replicas[m] ?? [], slots: ranges[i]!)
            }
            return Snapshot(shards: shards, refreshes: s.refreshes, redirects: s.redirects, failovers: s.failovers,
                            migrations: s.migrations, lastFailover: s.lastFailover, lastError: s.lastError)
        }
    }

    /// Reads the map again, unless another thread is already doing so.
    public func refresh() {
        guard refreshing.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { refreshing.store(false, ordering: .releasing) }
        let candidates = state.withLock { s in s.nodes } + seeds
        var errors: [String] = []
        var tried = Set<Host>()
        for host in candidates where !tried.contains(host) {
            tried.insert(host)
            do throws(BackendError) {
                let ranges = try ask(host)
                apply(ranges)
                return
            } catch {
                errors.append("\(host): \(error.message.prefix(80))")
            }
        }
        let message = "no cluster node answered CLUSTER SLOTS: \(errors.prefix(4).joined(separator: "; "))"
        state.withLock { $0.lastError = message }
    }

    private struct Range {
        let first: Int
        let last: Int
        let master: Host
        let replicas: [Host]
    }

    /// One node's `CLUSTER SLOTS`: `[[first, last, [host, port, id, ...], [replica...]...], ...]`.
    private func ask(_ host: Host) throws(BackendError) -> [Range] {
        let reply: RedisReply = try askers.withLock { (cs: inout [String: RedisConnection]) throws(BackendError) -> RedisReply in
            let key = host.description
            let c = cs[key] ?? RedisConnection(endpoint: endpoint(of: host), checksServer: false)
            if cs.count < Self.nodeLimit { cs[key] = c }
            return try c.command(["CLUSTER", "SLOTS"])
        }
        if case .error(let m) = reply {
            if RedisErrorClass.of(m) == .misconfigured(.unknownCommand) || m.contains("cluster support disabled") {
                throw BackendError(misconfigured: .notCluster, "\(host): \(m.prefix(100))")
            }
            throw BackendError(.server, m)
        }
        guard let entries = reply.array, !entries.isEmpty else { throw BackendError(.protocolError, "CLUSTER SLOTS: no slots assigned") }
        func node(_ r: RedisReply) -> Host? {
            guard let parts = r.array, parts.count >= 2, let port = parts[1].integer else { return nil }
            // An empty or "?" endpoint means "the node you asked" (cluster-preferred-endpoint-type unknown-endpoint).
            let name = parts[0].string ?? ""
            return Host(host: name.isEmpty || name == "?" ? host.host : name, port: Int(port))
        }
        var ranges: [Range] = []
        for e in entries {
            guard let parts = e.array, parts.count >= 3, let first = parts[0].integer, let last = parts[1].integer,
                  first >= 0, last < Int64(ClusterSlot.count), first <= last, let master = node(parts[2]) else {
                throw BackendError(.protocolError, "CLUSTER SLOTS: malformed entry")
            }
            ranges.append(Range(first: Int(first), last: Int(last), master: master, replicas: parts.dropFirst(3).compactMap(node)))
        }
        return ranges
    }

    private func apply(_ ranges: [Range]) {
        let now = clock.wallMs()
        let (changes, listeners) = state.withLock { s -> ([Failover], [@Sendable (Failover) -> Void]) in
            var owners = [Int32](repeating: -1, count: ClusterSlot.count)
            var replicas: [String: [String]] = [:]
            for r in ranges {
                guard s.nodes.count < Self.nodeLimit || s.nodes.contains(r.master) else { continue }
                let i = s.index(of: r.master)
                for slot in r.first...r.last { owners[slot] = i }
                replicas[r.master.description] = r.replicas.map(\.description)
            }
            // A range whose master changed: a failover when the old master is now the new
            // one's replica (or gone), else a migration.
            var seen = Set<[Int32]>()
            var changes: [Failover] = []
            for slot in 0..<ClusterSlot.count {
                let old = s.owners[slot], new = owners[slot]
                guard old >= 0, new >= 0, old != new, seen.insert([old, new]).inserted else { continue }
                let from = s.nodes[Int(old)].description, to = s.nodes[Int(new)].description
                let f = Failover(atMs: now, from: from, to: to)
                if (replicas[to] ?? []).contains(from) || replicas[from] == nil {
                    s.failovers += 1
                    s.lastFailover = f
                } else {
                    s.migrations += 1
                }
                changes.append(f)
            }
            s.owners = owners
            s.replicas = replicas
            s.refreshes += 1
            s.lastError = nil
            return (changes, changes.isEmpty ? [] : s.listeners)
        }
        for c in changes {
            for l in listeners { l(c) }
        }
    }
}
