import ArgumentParser
import Foundation

/// Runs a read-only call; Baton errors become a message and an exit code.
func reading<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch BatonError.conflict(let why) {
        Log.info("Baton said no (HTTP 409): \(why)")
        throw ExitCode(Exit.skipped)
    } catch let error as BatonError {
        Log.info("\(error)")
        throw ExitCode(error.isUnavailable ? Exit.unavailable : Exit.error)
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 if Baton answers GET /healthz with 200 (no token needed; for Docker HEALTHCHECK).",
        discussion: "Prints 'ok' (or the JSON answer with --json). Exit 69 when Baton is unreachable or unhealthy, 1 on any other answer.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try BatonClient(baseURL: global.resolvedURL, token: nil, timeout: min(global.timeout.seconds, 5))
        let health = try await reading { try await client.health() }
        if global.json { try client.printRawJSON("getHealth") } else { printOut(health.status.rawValue) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Leases, tasks, backends, breakers and outbox at a glance.",
        discussion: "Reads GET /status, GET /leases and GET /tasks. A part that cannot be read is shown as unavailable; the exit code is then 69 (1 for other errors). With --watch, redraws in place until Ctrl-C.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Redraw every --interval until interrupted (see StatusWatch).")
    var watch = false
    @Option(help: ArgumentHelp("With --watch: time between redraws, 1s-5m.", valueName: "duration"))
    var interval: CLIDuration = CLIDuration(milliseconds: 2_000)

    mutating func validate() throws {
        guard StatusWatch.intervalRange.contains(interval.milliseconds) else { throw ValidationError("--interval must be from 1s to 5m") }
        if watch && global.json { throw ValidationError("--watch shows the table view; it cannot be combined with --json") }
    }

    func run() async throws {
        let client = try global.client()
        if watch { try await StatusWatch.run(client: client, intervalMs: interval.milliseconds) }
        async let statusResult = capture { try await client.status() }
        async let leasesResult = capture { try await client.leases() }
        async let tasksResult = capture { try await client.tasks() }
        let (status, leases, tasks) = await (statusResult, leasesResult, tasksResult)

        var errors: [String: String] = [:]
        var worst: Int32 = 0
        func note(_ part: String, _ error: BatonError?) {
            guard let error else { return }
            errors[part] = error.description
            worst = max(worst, error.isUnavailable ? Exit.unavailable : Exit.error)
        }
        note("status", status.error)
        note("leases", leases.error)
        note("tasks", tasks.error)
        if errors.count == 3, let e = status.error {
            // Nothing could be read: one line, not three.
            Log.info(e.description)
            throw ExitCode(worst)
        }

        if global.json {
            // What Baton said, unchanged: {"status": /status, "leases": /leases' list,
            // "tasks": /tasks, "errors": {part: message}}; a part that failed is null.
            var combined: [String: Any] = ["errors": errors]
            combined["status"] = status.value != nil ? client.rawJSON("getStatus") ?? NSNull() : NSNull()
            let leaseList = leases.value != nil ? client.rawJSON("listLeases") as? [String: Any] : nil
            combined["leases"] = leaseList?["leases"] ?? NSNull()
            combined["tasks"] = tasks.value != nil ? client.rawJSON("listTasks") ?? NSNull() : NSNull()
            try JSON.printObject(combined)
        } else {
            printOut(StatusView.render(url: client.baseURL, status: status.value, leases: leases.value?.leases,
                                       tasks: tasks.value, errors: errors))
        }
        if worst != 0 { throw ExitCode(worst == Exit.unavailable ? Exit.unavailable : Exit.error) }
    }
}

struct Captured<T: Sendable>: Sendable {
    var value: T?
    var error: BatonError?
}

func capture<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Captured<T> {
    do {
        return Captured(value: try await body())
    } catch let error as BatonError {
        return Captured(error: error)
    } catch {
        return Captured(error: .unavailable(String(describing: error)))
    }
}

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

struct LeaderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Look at or change one lease by hand.",
        subcommands: [Get.self, Acquire.self, Renew.self, Release.self])

    static func show(_ s: Schemas.LeaseState, json: Bool, client: BatonClient, operation: String) throws {
        if json { try client.printRawJSON(operation); return }
        var t = Table("LEASE", "HOLDER", "LEADER", "TOKEN", "TIME LEFT", "TTL", "SINCE", "MODE")
        t.add(s.lease, s.holder ?? "(vacant)", s.leader ? "yes" : "no", s.fencing_token.map(String.init) ?? "-",
              Format.duration(ms: s.expires_in_ms), Format.duration(ms: s.ttl_ms), Format.shortTime(s.acquired_at), s.mode.rawValue)
        printOut(t.render())
    }

    struct LeaseOptions: ParsableArguments {
        @Option(help: ArgumentHelp("The lease's name.", valueName: "name"))
        var lease: String

        mutating func validate() throws { try Names.checkName(lease, "--lease") }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show who holds the lease (GET /leader).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions

        func run() async throws {
            let client = try global.client()
            let state = try await reading { try await client.leader(lease: options.lease) }
            try LeaderCommand.show(state, json: global.json, client: client, operation: "getLeader")
        }
    }

    struct Acquire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Become (or stay) the leader (POST /leader). Exit 0 when leader, 75 when someone else leads.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Lease TTL.", valueName: "duration"))
        var ttl: CLIDuration?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.acquire(lease: options.lease, holder: holder, ttlMs: ttl.map { Int($0.milliseconds) })
            }
            switch answer {
            case .ok(let s): try LeaderCommand.show(s, json: global.json, client: client, operation: "acquireLeadership")
            case .conflict(let s):
                try LeaderCommand.show(s, json: global.json, client: client, operation: "acquireLeadership")
                throw ExitCode(Exit.skipped)
            }
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Extend this holder's tenure (POST /lease/renew). Exit 0 when renewed, 76 when the lease is no longer ours.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Lease TTL.", valueName: "duration"))
        var ttl: CLIDuration?
        @Option(help: ArgumentHelp("Renew only if this is the current tenure's token.", valueName: "n"))
        var fencingToken: Int64?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.renew(lease: options.lease, holder: holder, ttlMs: ttl.map { Int($0.milliseconds) }, fencingToken: fencingToken)
            }
            switch answer {
            case .ok(let s): try LeaderCommand.show(s, json: global.json, client: client, operation: "renewLease")
            case .conflict(let s):
                try LeaderCommand.show(s, json: global.json, client: client, operation: "renewLease")
                throw ExitCode(Exit.lost)
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End this holder's tenure (POST /lease/release). Exit 0 when released or already vacant, 75 when someone else holds it.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Release only if this is the current tenure's token.", valueName: "n"))
        var fencingToken: Int64?

        func run() async throws {
            let holder = global.resolvedHolder
            try Names.checkHolder(holder)
            let client = try global.client()
            let answer = try await reading {
                try await client.release(lease: options.lease, holder: holder, fencingToken: fencingToken)
            }
            switch answer {
            case .ok(let r):
                if global.json { try client.printRawJSON("releaseLease") } else { printOut(r.released ? "released \(r.lease)" : "\(r.lease) was already vacant") }
            case .conflict(let r):
                if global.json { try client.printRawJSON("releaseLease") } else { printOut("\(r.lease) is held by \(r.holder ?? "?") (token \(r.fencing_token.map(String.init) ?? "-")): not released") }
                throw ExitCode(Exit.skipped)
            }
        }
    }
}

struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Tasks: current claims and run history.",
        subcommands: [List.self, Runs.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every known task with its current claim and last run (GET /tasks).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let client = try global.client()
            let tasks = try await reading { try await client.tasks() }
            if global.json { try client.printRawJSON("listTasks"); return }
            printOut(StatusView.render(url: client.baseURL, status: nil, leases: nil, tasks: tasks, errors: [:])
                .trimmingCharacters(in: .newlines))
        }
    }

    struct Runs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A task's run history, newest first (GET /tasks/{task}/runs).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The task's name.", valueName: "task"))
        var task: String
        @Option(help: ArgumentHelp("At most this many runs (1-1000).", valueName: "n"))
        var limit: Int = 20

        mutating func validate() throws {
            try Names.checkName(task, "task")
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1-1000") }
        }

        func run() async throws {
            let client = try global.client()
            let history = try await reading { try await client.runs(task: task, limit: limit) }
            if global.json { try client.printRawJSON("listTaskRuns"); return }
            if history.runs.isEmpty { printOut("no runs of \(task) recorded"); return }
            var t = Table("CLAIMED", "HOLDER", "SLOT", "TOKEN", "STATUS", "TOOK", "DETAIL", "RUN")
            for r in history.runs {
                var status = r.status.rawValue
                if r.late { status += " (late)" }
                if r.mode == .degraded { status += " (degraded)" }
                t.add(Format.shortTime(r.claimed_at), r.holder, r.slot ?? "-", r.fencing_token.map(String.init) ?? "-",
                      status, Format.duration(ms: r.duration_ms), r.detail.map { Format.truncate($0, 50) } ?? "-", r.run_id)
            }
            printOut(t.render())
        }
    }
}

struct LeasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leases",
        abstract: "Leases: current state and tenure history.",
        subcommands: [List.self, History.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every known lease (GET /leases).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let client = try global.client()
            let leases = try await reading { try await client.leases() }
            if global.json { try client.printRawJSON("listLeases"); return }
            printOut(StatusView.render(url: client.baseURL, status: nil, leases: leases.leases, tasks: nil, errors: [:])
                .trimmingCharacters(in: .newlines))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A lease's tenures, newest first (GET /leases/{lease}/history).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The lease's name.", valueName: "lease"))
        var lease: String
        @Option(help: ArgumentHelp("At most this many tenures (1-1000).", valueName: "n"))
        var limit: Int = 20

        mutating func validate() throws {
            try Names.checkName(lease, "lease")
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1-1000") }
        }

        func run() async throws {
            let client = try global.client()
            let history = try await reading { try await client.leaseHistory(lease: lease, limit: limit) }
            if global.json { try client.printRawJSON("listLeaseHistory"); return }
            if history.tenures.isEmpty { printOut("no tenures of \(lease) recorded"); return }
            var t = Table("ACQUIRED", "HOLDER", "TOKEN", "TTL", "ENDED", "HOW", "LASTED")
            for r in history.tenures {
                let lasted = r.ended_at.map { Int64(($0.timeIntervalSince(r.acquired_at) * 1000).rounded()) }
                t.add(Format.shortTime(r.acquired_at), r.holder, String(r.fencing_token), Format.duration(ms: r.ttl_ms),
                      r.ended_at.map(Format.shortTime) ?? "(current)", r.end_reason?.rawValue ?? "-",
                      lasted.map { Format.duration(ms: $0) } ?? "-")
            }
            printOut(t.render())
        }
    }
}
