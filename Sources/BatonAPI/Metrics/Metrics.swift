public import BatonCore
import BatonHTTP
import BatonSupport
import Synchronization

/// Counters and histograms for `/metrics` (Prometheus text format 0.0.4).
///
/// Every label value comes from a closed set: route patterns (or `unmatched`), the known
/// HTTP methods (or `other`), status codes, validated lease names and fixed words, never
/// anything a client chose freely. Before this, a request to an unmatched route recorded
/// its method as sent: 3,000 distinct 16 KB methods took RSS from 39 to 82 MB and
/// `/metrics` to 52 MB (attack review, issue 15).
public final class Metrics: CoordinationEvents {
    /// What one route counted, kept by ``Router/Route/index`` (`unmatched` has a slot of
    /// its own), so counting a request hashes no string: the dictionaries keyed by route,
    /// method and status this replaced were ~1,400 instructions of every request (issue 17).
    /// Bounded: a route's method is fixed, `unmatched` folds methods into ``knownMethods``,
    /// and statuses are the server's own.
    private struct RouteSlot {
        var pattern = ""
        var counts: [(method: String, status: Int, count: Int)] = []
        var durations = Histogram()

        mutating func count(_ method: String, _ status: Int) {
            for i in counts.indices where counts[i].status == status && counts[i].method == method {
                counts[i].count += 1
                return
            }
            counts.append((method, status, 1))
        }
    }

    private struct State {
        /// By route index; `unmatched` is kept apart so the slots can grow as routes are met.
        var routes: [RouteSlot] = []
        var unmatched = RouteSlot(pattern: "unmatched")
        var acquisitions: [String: Int] = [:]
        var transitions: [String: Int] = [:]
        var degraded: [String: Int] = [:]
        var sessions: [String: Int] = [:]
        var recoveries: [String: Int] = [:]
        var serverChanges = 0
        var failovers = 0
        var misconfigured: [Misconfiguration: Int] = [:]
        var lastMisconfigured: [Misconfiguration: (atMs: Int64, detail: String)] = [:]
    }

    private let state = Mutex(State())
    /// Per-task run counters and timestamps (fed through ``ObservedHistory``).
    public let runs = TaskRunMetrics()
    /// Per-task schedule periods, from the saved schedules (read at scrape time, cached briefly).
    public let schedules: ScheduleMetrics
    private let refusalLines = LogLimiter(limit: 10, windowMs: 60_000)
    /// One line a minute per kind of misconfiguration (every caller gets the same 503).
    private let misconfigurationLines = Dictionary(uniqueKeysWithValues: Misconfiguration.allCases.map {
        ($0, LogLimiter(limit: 1, windowMs: 60_000))
    })

    public init(schedules: ScheduleMetrics = ScheduleMetrics()) {
        self.schedules = schedules
    }

    /// Methods kept as a label value; any other is counted as `other`.
    public static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]

    /// The label value for `method`: itself when known, else `other`.
    public static func methodLabel(_ method: String) -> String { knownMethods.contains(method) ? method : "other" }

    /// `route` is the matched route, nil for `unmatched`, whose method is folded into
    /// ``knownMethods`` here, so no caller can add a series by accident.
    func observeRequest(route: Router.Route?, method: String, status: Int, seconds: Double) {
        guard let route else {
            let method = Self.methodLabel(method)
            state.withLock { s in
                s.unmatched.count(method, status)
                s.unmatched.durations.observe(seconds)
            }
            return
        }
        state.withLock { s in
            if s.routes.count <= route.index { s.routes.append(contentsOf: repeatElement(RouteSlot(), count: route.index + 1 - s.routes.count)) }
            if s.routes[route.index].pattern.isEmpty { s.routes[route.index].pattern = route.pattern }
            s.routes[route.index].count(route.method, status)
            s.routes[route.index].durations.observe(seconds)
        }
    }

    func observeSession(_ result: String) {
        state.withLock { $0.sessions[result, default: 0] += 1 }
    }

    public func leaseAcquired(_ lease: LeaseName, transition: Bool) {
        state.withLock { s in
            s.acquisitions[lease.value, default: 0] += 1
            if transition { s.transitions[lease.value, default: 0] += 1 }
        }
    }

    public func degradedGrant(_ kind: String) {
        state.withLock { $0.degraded[kind, default: 0] += 1 }
    }

    public func recoveryRefusal(_ resource: Resource) {
        let kind: String
        switch resource {
        case .lease: kind = "lease"
        case .task: kind = "task"
        }
        state.withLock { $0.recoveries[kind, default: 0] += 1 }
        // Every caller is refused until the window ends: a few lines a minute say so.
        guard let suppressed = refusalLines.admit() else { return }
        Log.current.warn("redis lost or may have missed this resource's data; refusing new grants until earlier ones have run out",
                         ["resource": .string(resource.description), "lines_suppressed_before": .int(Int64(suppressed))])
    }

    public func misconfiguredAnswer(_ what: Misconfiguration, detail: String) {
        let now = SystemClock().wallMs()
        state.withLock { s in
            s.misconfigured[what, default: 0] += 1
            s.lastMisconfigured[what] = (now, String(detail.prefix(200)))
        }
        guard let suppressed = misconfigurationLines[what]?.admit() else { return }
        Log.current.error("redis is misconfigured for batond: answering 503, never a degraded grant",
                          ["code": .string(what.rawValue), "fix": .string(what.fix), "redis_said": .string(String(detail.prefix(200))),
                           "lines_suppressed_before": .int(Int64(suppressed))])
    }

    /// Misconfigurations answered within the last `withinMs`, as `/status` warnings.
    public func recentMisconfigurations(withinMs: Int64 = 300_000) -> [String] {
        let now = SystemClock().wallMs()
        let seen = state.withLock { $0.lastMisconfigured }
        return Misconfiguration.allCases.compactMap { what in
            guard let last = seen[what], now - last.atMs <= withinMs else { return nil }
            return "\(what.rawValue): \(what.fix) (last at \(Timestamp.rfc3339(ms: last.atMs)); Redis said: \(last.detail))"
        }
    }

    /// The sentinels named another master and batond followed.
    public func redisFailoverFollowed() {
        state.withLock { $0.failovers += 1 }
    }

    /// The Redis server behind the endpoint changed (a restart or a failover).
    public func redisServerChanged() {
        state.withLock { $0.serverChanges += 1 }
    }

    /// The exposition text; `breakers` and `outbox` are read at call time.
    /// - Parameter shards: under Redis Cluster, each master's own breaker (``BreakerDomains``),
    ///   exported beside the primary's with a `shard` label: a shard's outage opens only its
    ///   breaker, and without these series `BatonRedisBreakerOpen` stayed silent while that
    ///   shard's leases got degraded answers.
    func render(breakers: [CircuitBreaker.Snapshot], shards: [(domain: String, snapshot: CircuitBreaker.Snapshot)] = [],
                outbox: HistoryOutbox.Stats, outboxCapacity: Int, version: String) -> String {
        let s = state.withLock { $0 }
        var out = ""
        out.reserveCapacity(4096)
        family(&out, "baton_build_info", "gauge", "Build information.")
        out += "baton_build_info{version=\"\(escape(version))\"} 1\n"

        // Series by label values: two routes may share a pattern (GET and POST /leader share
        // a histogram) and, in principle, a pattern and a method.
        var requests: [String: [String: [Int: Int]]] = [:]
        var durations: [String: Histogram] = [:]
        for slot in s.routes + [s.unmatched] where !slot.pattern.isEmpty && slot.durations.count > 0 {
            for c in slot.counts { requests[slot.pattern, default: [:]][c.method, default: [:]][c.status, default: 0] += c.count }
            durations[slot.pattern, default: Histogram()].add(slot.durations)
        }
        family(&out, "baton_http_requests_total", "counter", "HTTP requests by route pattern, method and status.")
        for (route, methods) in requests.sorted(by: { $0.key < $1.key }) {
            for (method, statuses) in methods.sorted(by: { $0.key < $1.key }) {
                for (status, n) in statuses.sorted(by: { $0.key < $1.key }) {
                    out += "baton_http_requests_total{route=\"\(escape(route))\",method=\"\(escape(method))\",status=\"\(status)\"} \(n)\n"
                }
            }
        }
        family(&out, "baton_http_request_duration_seconds", "histogram", "Time to answer, by route pattern.")
        for (route, h) in durations.sorted(by: { $0.key < $1.key }) {
            h.render("baton_http_request_duration_seconds", labels: "route=\"\(escape(route))\"", into: &out)
        }

        family(&out, "baton_lease_acquisitions_total", "counter", "New tenures begun, by lease.")
        for (k, v) in s.acquisitions.sorted(by: { $0.key < $1.key }) { out += "baton_lease_acquisitions_total{lease=\"\(escape(k))\"} \(v)\n" }
        family(&out, "baton_lease_transitions_total", "counter", "New tenures whose holder differs from the previous one, by lease.")
        for (k, v) in s.transitions.sorted(by: { $0.key < $1.key }) { out += "baton_lease_transitions_total{lease=\"\(escape(k))\"} \(v)\n" }
        family(&out, "baton_degraded_grants_total", "counter", "Answers granted by the breaker fallback while Redis was unreachable.")
        for kind in ["lease", "task"] { out += "baton_degraded_grants_total{kind=\"\(kind)\"} \(s.degraded[kind] ?? 0)\n" }
        family(&out, "baton_recovery_refusals_total", "counter", "New tenures and claims refused because Redis lost their data (recovery window).")
        for kind in ["lease", "task"] { out += "baton_recovery_refusals_total{kind=\"\(kind)\"} \(s.recoveries[kind] ?? 0)\n" }
        family(&out, "baton_redis_server_changes_total", "counter", "Times the Redis server behind the endpoint changed (new run_id: a restart or a failover).")
        out += "baton_redis_server_changes_total \(s.serverChanges)\n"
        family(&out, "baton_redis_failovers_total", "counter", "Sentinel failovers followed (the sentinels named another master).")
        out += "baton_redis_failovers_total \(s.failovers)\n"
        family(&out, "baton_redis_misconfiguration_answers_total", "counter", "Answers refused (503) because Redis is set up wrong for batond, by code.")
        for what in Misconfiguration.allCases {
            out += "baton_redis_misconfiguration_answers_total{code=\"\(what.rawValue)\"} \(s.misconfigured[what] ?? 0)\n"
        }
        family(&out, "baton_session_validations_total", "counter", "Session validations by result.")
        for (k, v) in s.sessions.sorted(by: { $0.key < $1.key }) { out += "baton_session_validations_total{result=\"\(escape(k))\"} \(v)\n" }

        // (labels, snapshot): the backends', then each shard's with its master's address.
        let series = breakers.map { ("backend=\"\($0.backend.rawValue)\"", $0) }
            + shards.map { ("backend=\"\($0.snapshot.backend.rawValue)\",shard=\"\(escape($0.domain))\"", $0.snapshot) }
        family(&out, "baton_breaker_state", "gauge", "Circuit breaker state per backend, and per Redis Cluster shard (1 for the current state).")
        for (labels, b) in series {
            for st in ["closed", "open", "half_open"] {
                out += "baton_breaker_state{\(labels),state=\"\(st)\"} \(b.state.rawValue == st ? 1 : 0)\n"
            }
        }
        family(&out, "baton_backend_errors_total", "counter", "Connection errors and timeouts per backend, and per Redis Cluster shard.")
        for (labels, b) in series { out += "baton_backend_errors_total{\(labels)} \(b.totalFailures)\n" }
        family(&out, "baton_breaker_opened_total", "counter", "Times each breaker opened.")
        for (labels, b) in series { out += "baton_breaker_opened_total{\(labels)} \(b.timesOpened)\n" }

        family(&out, "baton_history_outbox_pending", "gauge", "History rows waiting to be written to PostgreSQL.")
        out += "baton_history_outbox_pending \(outbox.pending)\n"
        family(&out, "baton_history_outbox_capacity", "gauge", "Most history rows the outbox holds before dropping the oldest.")
        out += "baton_history_outbox_capacity \(outboxCapacity)\n"
        family(&out, "baton_history_written_total", "counter", "History rows written to PostgreSQL.")
        out += "baton_history_written_total \(outbox.written)\n"
        family(&out, "baton_history_dropped_total", "counter", "History rows dropped because the outbox was full.")
        out += "baton_history_dropped_total \(outbox.dropped)\n"
        family(&out, "baton_history_write_failures_total", "counter", "Failed attempts to write a batch of history rows.")
        out += "baton_history_write_failures_total \(outbox.failures)\n"
        return out
    }

    private func family(_ out: inout String, _ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// A label value for the text format: backslash, quote and line feed escaped as it
    /// defines; any other control character (which it has no escape for, and which would
    /// break the line for a reader) replaced by U+FFFD.
    static func escape(_ s: String) -> String {
        var o = ""
        for u in s.unicodeScalars {
            switch u {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default:
                if u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 {
                    o.unicodeScalars.append("\u{FFFD}")
                } else {
                    o.unicodeScalars.append(u)
                }
            }
        }
        return o
    }

    private func escape(_ s: String) -> String { Self.escape(s) }
}
