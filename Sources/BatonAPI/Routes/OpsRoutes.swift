import BatonCore
import BatonHTTP
import BatonSupport

/// `/status`, `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`.
struct OpsRoutes {
    let services: Services
    let metrics: Metrics

    func register(_ r: inout Router) {
        r.add("GET", "/healthz") { _, _ in .json(200, ["status": "ok"]) }
        // Readiness must not follow Redis or PostgreSQL: degraded mode has to stay reachable.
        r.add("GET", "/readyz") { _, _ in
            services.facts.draining
                ? .json(503, ["status": "draining", "draining": true])
                : .json(200, ["status": "ready", "draining": false])
        }
        r.add("GET", "/status") { _, _ in .json(200, status()) }
        r.add("GET", "/metrics") { _, _ in
            var text = metrics.render(breakers: [services.redisBreaker.snapshot(), services.postgresBreaker.snapshot()],
                                      shards: services.election.breakers.snapshots(),
                                      outbox: services.outbox.stats(), outboxCapacity: services.outbox.capacity,
                                      version: services.facts.version)
            metrics.runs.seedIfNeeded { services.historyService.lastRuns() }
            metrics.runs.render(into: &text)
            LeaseGauge.render(services, into: &text)
            if let n = services.facts.snapshot.redisTopology?().pipelinedCommands {
                text += "# HELP baton_redis_pipelined_commands_total Redis commands sent through the shared pipelined connection (BATON_REDIS_PIPELINE=on).\n"
                text += "# TYPE baton_redis_pipelined_commands_total counter\nbaton_redis_pipelined_commands_total \(n)\n"
            }
            WatchStatus.metrics(services.watching, into: &text)
            metrics.schedules.render(services.scheduleService, clock: services.clock, into: &text)
            return .text(200, text, contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        r.add("GET", "/openapi.yaml") { _, _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: OpenAPISpec.bytes)
        }
    }

    private func status() -> JSONValue {
        let f = services.facts
        let now = SystemClock().wallMs()
        let m = f.snapshot
        let o = services.outbox.stats()
        var redis = backend(services.redisBreaker.snapshot(), endpoint: f.redisEndpoint)
        if case .object(var pairs) = redis {
            pairs.append(("version", .string(m.redisVersion)))
            pairs.append(("maxmemory_policy", .string(m.maxmemoryPolicy)))
            let t = m.redisTopology?()
            pairs.append(("mode", .string(t?.mode ?? "standalone")))
            pairs.append(("master", .string(t?.master)))
            pairs.append(("failovers_seen", .int(t?.failovers ?? 0)))
            pairs.append(("last_failover_at", t?.lastFailoverAtMs.map { .string(Timestamp.rfc3339(ms: $0)) } ?? .null))
            pairs.append(("last_failover", .string(t?.lastFailover)))
            if let e = t?.lastError { pairs.append((t?.mode == "cluster" ? "cluster_error" : "sentinel_error", .string(e))) }
            if let t, t.mode == "cluster" {
                // Each shard's own breaker: a failover of one shard opens only its breaker.
                let breakers = Dictionary(services.election.breakers.snapshots().map { ($0.domain, $0.snapshot) }, uniquingKeysWith: { a, _ in a })
                pairs.append(("shards", .array(t.shards.map { shard in
                    let b = breakers[shard.master]
                    return .object([
                        ("master", .string(shard.master)),
                        ("replicas", .array(shard.replicas.map { .string($0) })),
                        ("slots", .array(shard.slots.map { .string($0) })),
                        ("breaker", .string((b?.state ?? .closed).rawValue)),
                        ("consecutive_failures", .int(b?.consecutiveFailures ?? 0)),
                        ("total_failures", .int(b?.totalFailures ?? 0)),
                        ("last_error", .string(b?.lastError)),
                    ])
                })))
                pairs.append(("redirects_followed", .int(t.redirects)))
                pairs.append(("slot_migrations_seen", .int(t.migrations)))
            }
            pairs.append(("server_mode", .string(m.redisMode)))
            pairs.append(("role", .string(m.redisRole)))
            pairs.append(("replication_offset", m.redisReplicationOffset.map { .int($0) } ?? .null))
            redis = .object(pairs)
        }
        var warnings = m.warnings + m.redisCheckWarnings + metrics.recentMisconfigurations()
        if o.dropped > 0 { warnings.append("\(o.dropped) history rows were dropped because the outbox was full") }
        var top: [(String, JSONValue)] = [
            ("version", .string(f.version)),
            ("started_at", .string(Timestamp.rfc3339(ms: f.startedAtMs))),
            ("uptime_ms", .int(now - f.startedAtMs)),
            ("auth", .string(f.authDisabled ? "disabled" : "required")),
            ("on_redis_failure", .string(f.onRedisFailure.rawValue)),
            ("backends", .object([
                ("redis", redis),
                ("postgres", backend(services.postgresBreaker.snapshot(), endpoint: f.postgresEndpoint)),
            ])),
            ("outbox", .object([
                ("pending", .int(o.pending)), ("capacity", .int(services.outbox.capacity)), ("written", .int(o.written)),
                ("dropped", .int(o.dropped)), ("failures", .int(o.failures)), ("last_error", .string(o.lastError)),
            ])),
            ("warnings", .array(warnings.map { .string($0) })),
        ]
        if let w = services.watching { top.append(("watch", WatchStatus.json(w))) }
        return .object(top)
    }

    private func backend(_ s: CircuitBreaker.Snapshot, endpoint: String) -> JSONValue {
        .object([
            ("endpoint", .string(endpoint)),
            ("breaker", .string(s.state.rawValue)),
            ("consecutive_failures", .int(s.consecutiveFailures)),
            ("total_failures", .int(s.totalFailures)),
            ("times_opened", .int(s.timesOpened)),
            ("last_error", .string(s.lastError)),
        ])
    }
}
