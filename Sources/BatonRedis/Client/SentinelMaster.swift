public import BatonCore
public import BatonSupport
import Synchronization

/// Which server is the master, as the sentinels say: asked on every new worker
/// connection, every second by a watcher thread, and at once (then every 100 ms for a
/// while) after any worker saw an error or a demoted server.
///
/// Why polling rather than subscribing to `+switch-master`: hiredis 0.14 is blocking, so a
/// subscription needs a thread and a connection per sentinel anyway, and a subscriber
/// that silently lost its connection (or the event, during a partition) would never hear
/// of the failover; a poll cannot miss it. The cost is one `SENTINEL get-master-addr-by-name`
/// a second, and detection within 100 ms once a worker has noticed trouble, small beside
/// Sentinel's own `down-after-milliseconds` plus election.
///
/// Workers compare ``generation`` before every command: when the named master changes,
/// every worker drops its connection to the old one before it sends anything else.
public final class SentinelMaster: Sendable {
    /// A failover as seen from here.
    public struct Failover: Sendable {
        public let atMs: Int64
        public let from: String
        public let to: String
    }

    public struct Snapshot: Sendable {
        public let master: String?
        public let failovers: Int
        public let lastFailover: Failover?
        public let lastError: String?
    }

    private struct State {
        var sentinels: [RedisConnection]
        var preferred = 0
        var master: SentinelSettings.Host?
        var resolvedAtMs: Int64 = .min
        var failovers = 0
        var lastFailover: Failover?
        var lastError: String?
        var listeners: [@Sendable (Failover) -> Void] = []
    }

    public let settings: SentinelSettings
    private let clock: any Clock
    private let state: Mutex<State>
    private let generationCounter = Atomic<Int>(0)
    /// Until when (monotonic ms) to poll fast: a worker saw trouble.
    private let suspectUntilMs = Atomic<Int64>(0)

    public init(settings: SentinelSettings, timeoutMs: Int, clock: any Clock = SystemClock()) {
        self.settings = settings
        self.clock = clock
        let connections = settings.hosts.map { h in
            RedisConnection(endpoint: RedisEndpoint(address: .tcp(host: h.host, port: h.port), username: settings.username,
                                                    password: settings.password, database: 0, timeoutMs: timeoutMs),
                            checksServer: false)
        }
        state = Mutex(State(sentinels: connections))
    }

    /// Bumped every time the sentinels name another master.
    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    /// Calls `listener` after each change of master (on the thread that saw it).
    public func onFailover(_ listener: @escaping @Sendable (Failover) -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// The master to connect to now, and the generation it belongs to. Asks the
    /// sentinels unless someone else did in the last `maxAgeMs`.
    public func master(maxAgeMs: Int64 = 50) throws(BackendError) -> (SentinelSettings.Host, generation: Int) {
        try resolve(maxAgeMs: maxAgeMs)
    }

    /// A worker saw an error or a demoted server: look again now, then every 100 ms for 30 s.
    public func suspect() {
        suspectUntilMs.store(clock.monotonicMs() + 30_000, ordering: .relaxed)
    }

    /// Whether the watcher should poll at the fast rate.
    public var suspecting: Bool { clock.monotonicMs() < suspectUntilMs.load(ordering: .relaxed) }

    public var snapshot: Snapshot {
        state.withLock { s in
            Snapshot(master: s.master?.description, failovers: s.failovers, lastFailover: s.lastFailover, lastError: s.lastError)
        }
    }

    /// One poll, for the watcher thread; errors are kept for `/status`.
    public func poll() {
        _ = try? resolve(maxAgeMs: 0)
    }

    /// One sentinel's view: the master's address from `SENTINEL get-master-addr-by-name`
    /// (which names the promoted replica as soon as it is promoted, while `SENTINEL MASTER`
    /// keeps the old address until every replica is reconfigured: seconds, when the old
    /// master is hung), and its config epoch from `SENTINEL MASTER` (-1 when that is
    /// refused). nil: no master by that name.
    private static func ask(_ c: RedisConnection, _ name: String) throws(BackendError) -> (host: SentinelSettings.Host, epoch: Int64)? {
        let addr = try c.command(["SENTINEL", "get-master-addr-by-name", name])
        if case .error(let m) = addr { throw BackendError(.server, m) }
        guard let parts = addr.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
            return nil
        }
        var epoch: Int64 = -1
        do {
            if case .array(let kv) = try c.command(["SENTINEL", "MASTER", name]) {
                var i = 0
                while i + 1 < kv.count {
                    if kv[i].string == "config-epoch", let e = kv[i + 1].integer { epoch = e }
                    i += 2
                }
            }
        } catch where error.misconfiguration == .aclDenied {
            // A sentinel ACL that allows only get-master-addr-by-name: no epoch to compare.
        }
        return (SentinelSettings.Host(host: host, port: port), epoch)
    }

    private func resolve(maxAgeMs: Int64) throws(BackendError) -> (SentinelSettings.Host, generation: Int) {
        let (result, changed, listeners) = state.withLock { s -> (Result<(SentinelSettings.Host, Int), BackendError>, Failover?, [@Sendable (Failover) -> Void]) in
            let now = clock.monotonicMs()
            if let m = s.master, now - s.resolvedAtMs <= maxAgeMs { return (.success((m, generation)), nil, []) }
            var errors: [String] = []
            var misconfigured: BackendError?
            // Every sentinel is asked and the answer with the highest config epoch wins: after
            // a failover the other sentinels learn of it only from hello messages (measured:
            // chaos/sentinel.py saw up to 1 s of degraded grants after a promotion when it
            // asked only the sentinel that had answered last).
            var best: (host: SentinelSettings.Host, epoch: Int64, index: Int)?
            for index in 0..<s.sentinels.count {
                let c = s.sentinels[index]
                do throws(BackendError) {
                    guard let answer = try Self.ask(c, settings.masterName) else {
                        // A null reply: this sentinel does not monitor that name.
                        misconfigured = BackendError(misconfigured: .sentinelUnknownMaster,
                                                     "\(settings.hosts[index]) monitors no master named '\(settings.masterName.prefix(60))'")
                        continue
                    }
                    if best == nil || answer.epoch > best!.epoch { best = (answer.host, answer.epoch, index) }
                } catch where error.kind == .misconfigured {
                    if error.misconfiguration == .unknownCommand {
                        misconfigured = BackendError(misconfigured: .notSentinel, "\(settings.hosts[index]) is not a Sentinel: \(error.message.prefix(80))")
                    } else {
                        misconfigured = error
                    }
                } catch {
                    errors.append("\(settings.hosts[index]): \(error.message.prefix(80))")
                }
            }
            if let best {
                s.preferred = best.index
                s.resolvedAtMs = now
                s.lastError = nil
                let found = best.host
                var failover: Failover?
                if let old = s.master, old != found {
                    failover = Failover(atMs: clock.wallMs(), from: old.description, to: found.description)
                    s.failovers += 1
                    s.lastFailover = failover
                }
                if s.master != found {
                    s.master = found
                    generationCounter.add(1, ordering: .releasing)
                }
                return (.success((found, generation)), failover, failover == nil ? [] : s.listeners)
            }
            let error = misconfigured ?? BackendError(.connect, "no sentinel named the master: \(errors.joined(separator: "; "))")
            s.lastError = error.description
            return (.failure(error), nil, [])
        }
        if let changed { for l in listeners { l(changed) } }
        return try result.get()
    }
}
