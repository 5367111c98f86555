import ArgumentParser
import Foundation

/// The 3 a.m. view: what holds what, what ran, what is broken.
enum StatusView {
    static func render(url: String, status: Schemas.Status?, leases: [Schemas.LeaseState]?,
                       tasks: Schemas.TaskList?, errors: [String: String], now: Date = Date()) -> String {
        var out: [String] = []
        if let s = status {
            out.append("Baton \(s.version) at \(url): up \(Format.duration(ms: s.uptime_ms)) (since \(Format.shortTime(s.started_at))), auth \(s.auth.rawValue), on Redis failure: \(s.on_redis_failure.rawValue)")
            if !s.warnings.isEmpty {
                out.append("")
                for w in s.warnings { out.append("WARNING: \(w)") }
            }
            out.append("")
            var t = Table("BACKEND", "BREAKER", "FAILURES", "ENDPOINT", "LAST ERROR")
            let r = s.backends.redis
            let redisNote = [r.version.map { "redis \($0)" }, r.maxmemory_policy.map { "maxmemory-policy \($0)" }]
                .compactMap { $0 }.joined(separator: ", ")
            t.add("redis", breaker(r.breaker), failures(r.consecutive_failures, r.total_failures, r.times_opened),
                  r.endpoint + (redisNote.isEmpty ? "" : " (\(redisNote))"), r.last_error.map { Format.truncate($0, 60) } ?? "-")
            let p = s.backends.postgres
            t.add("postgres", breaker(p.breaker), failures(p.consecutive_failures, p.total_failures, p.times_opened),
                  p.endpoint, p.last_error.map { Format.truncate($0, 60) } ?? "-")
            out.append(t.render())
            if let mode = r.mode {
                // Which server batond writes to, and what it saw of failovers.
                var line = "REDIS   \(mode.rawValue), master \(r.master ?? "unknown"), role \(r.role ?? "unknown")"
                if let offset = r.replication_offset { line += ", replication offset \(offset)" }
                if let n = r.failovers_seen, n > 0 {
                    line += "; \(n) failover\(n == 1 ? "" : "s") followed, last \(r.last_failover ?? "?")"
                    if let at = r.last_failover_at { line += " at \(Format.shortTime(at))" }
                }
                if let e = r.sentinel_error { line += "; sentinels: \(Format.truncate(e, 80))" }
                if let e = r.cluster_error { line += "; slot map: \(Format.truncate(e, 80))" }
                if let n = r.redirects_followed, n > 0 { line += "; \(n) MOVED followed" }
                out.append(line)
                if let shards = r.shards, !shards.isEmpty {
                    // Under Cluster each shard has its own breaker: the one that failed over shows here.
                    var st = Table("SHARD MASTER", "SLOTS", "REPLICAS", "BREAKER", "FAILURES", "LAST ERROR")
                    for sh in shards {
                        st.add(sh.master, Format.truncate(sh.slots.joined(separator: ","), 30),
                               sh.replicas.isEmpty ? "-" : sh.replicas.joined(separator: ","), breaker(sh.breaker),
                               "\(sh.consecutive_failures) now, \(sh.total_failures) total", sh.last_error.map { Format.truncate($0, 50) } ?? "-")
                    }
                    out.append(st.render())
                }
            }
            let o = s.outbox
            out.append("")
            out.append("OUTBOX  \(o.pending) pending of \(o.capacity)\(o.pending > 0 ? "  <- history waiting for PostgreSQL" : ""); written \(o.written), dropped \(o.dropped), failed writes \(o.failures)\(o.last_error.map { "; last error: \(Format.truncate($0, 60))" } ?? "")")
        } else if let e = errors["status"] {
            out.append("Baton at \(url): status unavailable: \(e)")
        }

        out.append("")
        if let leases {
            let held = leases.filter { $0.holder != nil }
            let vacant = leases.filter { $0.holder == nil }.map(\.lease)
            if leases.isEmpty {
                out.append("LEASES  none yet")
            } else if held.isEmpty {
                out.append("LEASES  none held")
            } else {
                var t = Table("LEASE", "HOLDER", "TOKEN", "TIME LEFT", "TTL", "SINCE", "MODE")
                for l in held {
                    t.add(l.lease, l.holder ?? "-", l.fencing_token.map(String.init) ?? "-", Format.duration(ms: l.expires_in_ms),
                          Format.duration(ms: l.ttl_ms), l.acquired_at.map { "\(Format.shortTime($0)) (\(Format.ago($0, now: now)))" } ?? "-",
                          l.mode.rawValue)
                }
                out.append(t.render())
            }
            if !vacant.isEmpty {
                out.append("vacant: " + vacant.joined(separator: ", "))
            }
        } else if let e = errors["leases"] {
            out.append("LEASES  unavailable: \(e)")
        }

        out.append("")
        if let tasks {
            if tasks.tasks.isEmpty {
                out.append("TASKS  none yet")
            } else {
                var t = Table("TASK", "CURRENT CLAIM", "LAST RUN", "RESULT", "DETAIL")
                for task in tasks.tasks {
                    t.add(task.task, claim(task.claim), lastRun(task.last_run, now: now),
                          task.last_run.map { $0.status.rawValue + ($0.late ? " (late)" : "") } ?? "-",
                          task.last_run?.detail.map { Format.truncate($0, 50) } ?? "-")
                }
                out.append(t.render())
            }
            if !tasks.history_available {
                out.append("(history unavailable: PostgreSQL could not be read, last runs are not shown)")
            }
        } else if let e = errors["tasks"] {
            out.append("TASKS  unavailable: \(e)")
        }
        return out.joined(separator: "\n")
    }

    static func breaker(_ state: Schemas.BreakerState) -> String {
        // Open states in capitals: they are what someone paged at 3 a.m. looks for.
        state == .closed ? "closed" : state.rawValue.replacingOccurrences(of: "_", with: "-").uppercased()
    }

    static func failures(_ consecutive: Int, _ total: Int64, _ opened: Int64) -> String {
        "\(consecutive) now, \(total) total, opened \(opened)x"
    }

    static func claim(_ c: Schemas.NullableClaimState?) -> String {
        guard let c else { return "-" }
        let who = c.holder ?? "?"
        let slot = c.slot.map { " slot \($0)" } ?? ""
        let token = c.fencing_token.map { " token \($0)" } ?? ""
        switch c.state?.rawValue {
        case "running":
            return "running on \(who)\(slot)\(token), \(Format.duration(ms: c.expires_in_ms)) left"
        case "completed":
            return "done by \(who)\(slot), kept \(Format.duration(ms: c.expires_in_ms))"
        case let other?:
            return "\(other): \(who)\(slot)"
        case nil:
            return "\(who)\(slot)"
        }
    }

    static func lastRun(_ r: Schemas.NullableRun?, now: Date) -> String {
        guard let r else { return "-" }
        let when = r.finished_at ?? r.claimed_at
        let took = r.duration_ms.map { " in \(Format.duration(ms: $0))" } ?? ""
        return "\(Format.ago(when, now: now)) on \(r.holder)\(took)"
    }
}
