import BatonCore
import BatonSupport

/// What the incident page shows, read once per page view from Redis, PostgreSQL and this
/// process. Every part may be missing (its backend is down): the page then says why and
/// shows the rest.
struct IncidentSnapshot {
    enum Range: String, CaseIterable {
        case hour = "1h", day = "24h", week = "7d"
        var ms: Int64 {
            switch self {
            case .hour: 3_600_000
            case .day: 86_400_000
            case .week: 604_800_000
            }
        }
    }

    struct LeaseRow {
        let view: LeaseView
        let tenures: [TenureHistoryEntry]
    }

    struct TaskRow {
        let task: TaskName
        let claim: TaskClaim?
        let lastRun: RunRecord?
    }

    let nowMs: Int64
    let range: Range
    let breakers: [CircuitBreaker.Snapshot]
    let outbox: HistoryOutbox.Stats
    let outboxCapacity: Int
    let leases: [LeaseRow]?
    let leasesError: String?
    let tasks: [TaskRow]
    let tasksError: String?
    let historyError: String?
    /// Runs in the window, per task (newest first as history gives them).
    let runs: [(TaskName, [RunRecord])]
    /// Tasks whose history in the window was cut at ``runsPerTask``.
    let truncated: [TaskName]
    let degraded: [(Int64, Int64)]
    let redisTransitions: Int

    /// Runs read per task: a 7-day window of a task every 10 minutes is 1008.
    static let runsPerTask = 1_000
    /// Tenures shown per lease.
    static let tenuresPerLease = 5
    /// Tasks and leases shown at most (names are client-chosen; the page stays bounded).
    static let maxRows = 200

    static func read(_ s: Services, range: Range, clock: any Clock = SystemClock()) -> IncidentSnapshot {
        let now = clock.wallMs()
        let from = now - range.ms
        // Every history read goes through the domain's HistoryService (behind the PostgreSQL
        // breaker); the page only notes the first reason a read gave nothing.
        let historyService = s.historyService
        var historyError: String?
        func history<V>(_ read: HistoryService.Read<V>) -> V? {
            switch read {
            case .ok(let v): return v
            case .unavailable(let e?, _):
                historyError = historyError ?? "PostgreSQL: \(e.description)"
            case .unavailable(nil, _):
                historyError = historyError ?? "PostgreSQL breaker is open: history not read"
            }
            return nil
        }

        var leases: [LeaseRow]?
        var leasesError: String?
        switch s.election.all() {
        case .ok(let views), .conflict(let views), .recovering(let views, _):
            leases = views.sorted { $0.lease.value < $1.lease.value }.prefix(maxRows).map { v in
                LeaseRow(view: v, tenures: history(historyService.tenures(of: v.lease, limit: tenuresPerLease)) ?? [])
            }
        case .unavailable(let e, _):
            leasesError = "Redis: " + (e?.description ?? "breaker open, state unknown")
        }

        var claims: [TaskName: TaskClaim] = [:]
        var names = Set<TaskName>()
        var tasksError: String?
        switch s.tasks.all() {
        case .ok(let list), .conflict(let list), .recovering(let list, _):
            for (t, c) in list {
                names.insert(t)
                if let c { claims[t] = c }
            }
        case .unavailable(let e, _):
            tasksError = "Redis: " + (e?.description ?? "breaker open, claims unknown")
        }
        let lastRuns = history(historyService.lastRunsRead()) ?? [:]
        names.formUnion(lastRuns.keys)
        let sorted = names.sorted { $0.value < $1.value }.prefix(maxRows)
        let tasks = sorted.map { TaskRow(task: $0, claim: claims[$0], lastRun: lastRuns[$0]) }

        var runs: [(TaskName, [RunRecord])] = []
        var truncated: [TaskName] = []
        for t in sorted {
            guard let all = history(historyService.runs(of: t, limit: runsPerTask)) else { break }
            let inWindow = all.filter { r in (r.finishedAtMs ?? now) >= from || (r.claimedAtMs ?? 0) >= from }
            if all.count == runsPerTask, let oldest = all.last, (oldest.claimedAtMs ?? oldest.finishedAtMs ?? 0) > from { truncated.append(t) }
            runs.append((t, inWindow))
        }

        let transitions = s.redisBreaker.transitions()
        return IncidentSnapshot(
            nowMs: now, range: range, breakers: [s.redisBreaker.snapshot(), s.postgresBreaker.snapshot()],
            outbox: s.outbox.stats(), outboxCapacity: s.outbox.capacity, leases: leases, leasesError: leasesError,
            tasks: tasks, tasksError: tasksError, historyError: historyError, runs: runs, truncated: truncated,
            degraded: degradedPeriods(transitions, current: s.redisBreaker.state, fromMs: from, toMs: now),
            redisTransitions: transitions.count)
    }
}
