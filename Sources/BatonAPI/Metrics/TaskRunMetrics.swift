public import BatonCore
import Synchronization

/// Per-task run counters and timestamps for alerts ("a run failed", "a scheduled slot
/// passed without a run"), fed by the history events every claim and completion emits.
///
/// Task names are chosen by clients, so the label set is bounded: the first
/// ``maxTasks`` names get their own series, any later one is counted under `task="_other"`.
/// Timestamps are this process's view, seeded once from the durable history (the last
/// run of each task) so a restart does not look like "never ran"; alert on the maximum
/// across replicas.
public final class TaskRunMetrics: Sendable {
    public static let maxTasks = 200
    static let overflow = "_other"

    private struct PerTask {
        var runs: [RunStatus: Int] = [:]
        var late = 0
        var lastClaimSeconds: Double?
        var lastSuccessSeconds: Double?
        var lastFailureSeconds: Double?
    }

    private struct State {
        var tasks: [String: PerTask] = [:]
        var seeded = false
    }

    private let state = Mutex(State())

    public init() {}

    private func key(_ task: TaskName, _ s: inout State) -> String {
        s.tasks[task.value] != nil || s.tasks.count < Self.maxTasks ? task.value : Self.overflow
    }

    /// A claim began (status running) or a run finished.
    func observe(_ r: RunRecord) {
        state.withLock { s in
            let k = key(r.task, &s)
            var t = s.tasks[k] ?? PerTask()
            if r.status == .running {
                if let c = r.claimedAtMs { t.lastClaimSeconds = max(t.lastClaimSeconds ?? 0, Double(c) / 1_000) }
            } else {
                t.runs[r.status, default: 0] += 1
                if r.late { t.late += 1 }
                let at = Double(r.finishedAtMs ?? 0) / 1_000
                if r.status == .succeeded { t.lastSuccessSeconds = max(t.lastSuccessSeconds ?? 0, at) }
                if r.status == .failed { t.lastFailureSeconds = max(t.lastFailureSeconds ?? 0, at) }
            }
            s.tasks[k] = t
        }
    }

    /// Seeds the timestamps from the history's last run per task, once (retried on the
    /// next scrape while PostgreSQL is unavailable).
    func seedIfNeeded(_ read: () -> [TaskName: RunRecord]?) {
        guard !state.withLock({ $0.seeded }) else { return }
        guard let last = read() else { return }
        state.withLock { s in
            guard !s.seeded else { return }
            s.seeded = true
            for (task, r) in last {
                let k = key(task, &s)
                var t = s.tasks[k] ?? PerTask()
                if let c = r.claimedAtMs { t.lastClaimSeconds = max(t.lastClaimSeconds ?? 0, Double(c) / 1_000) }
                if let f = r.finishedAtMs {
                    if r.status == .succeeded { t.lastSuccessSeconds = max(t.lastSuccessSeconds ?? 0, Double(f) / 1_000) }
                    if r.status == .failed { t.lastFailureSeconds = max(t.lastFailureSeconds ?? 0, Double(f) / 1_000) }
                }
                s.tasks[k] = t
            }
        }
    }

    func render(into out: inout String) {
        let tasks = state.withLock { $0.tasks }.sorted { $0.key < $1.key }
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        family("baton_task_runs_total", "counter", "Finished task runs recorded by this process, by task and status.")
        for (task, t) in tasks {
            for st in [RunStatus.succeeded, .failed, .cancelled] {
                out += "baton_task_runs_total{task=\"\(task)\",status=\"\(st.rawValue)\"} \(t.runs[st] ?? 0)\n"
            }
        }
        family("baton_task_late_completions_total", "counter", "Completions that arrived after their claim had expired, by task.")
        for (task, t) in tasks { out += "baton_task_late_completions_total{task=\"\(task)\"} \(t.late)\n" }
        family("baton_task_last_claim_timestamp_seconds", "gauge", "When the task was last claimed (Unix time), as this process knows it.")
        for (task, t) in tasks { if let v = t.lastClaimSeconds { out += "baton_task_last_claim_timestamp_seconds{task=\"\(task)\"} \(v)\n" } }
        family("baton_task_last_success_timestamp_seconds", "gauge", "When a run of the task last succeeded (Unix time), as this process knows it.")
        for (task, t) in tasks { if let v = t.lastSuccessSeconds { out += "baton_task_last_success_timestamp_seconds{task=\"\(task)\"} \(v)\n" } }
        family("baton_task_last_failure_timestamp_seconds", "gauge", "When a run of the task last failed (Unix time), as this process knows it.")
        for (task, t) in tasks { if let v = t.lastFailureSeconds { out += "baton_task_last_failure_timestamp_seconds{task=\"\(task)\"} \(v)\n" } }
    }
}

/// Passes history events on to the outbox and lets the run metrics see them.
public struct ObservedHistory: HistoryRecorder {
    let next: any HistoryRecorder
    let runs: TaskRunMetrics

    public init(_ next: any HistoryRecorder, runs: TaskRunMetrics) {
        self.next = next
        self.runs = runs
    }

    public func record(_ event: HistoryEvent) {
        if case .run(let r) = event { runs.observe(r) }
        next.record(event)
    }
}

/// `baton_lease_held{lease}`: 1 while someone holds the lease, 0 while it is vacant, read
/// from Redis at scrape time (leases are the ones Redis knows; the label set is as bounded
/// as the other per-lease series). Absent when Redis cannot be read: the breaker alert covers that.
enum LeaseGauge {
    static let maxLeases = 200

    static func render(_ services: Services, into out: inout String) {
        out += "# HELP baton_lease_held Whether the lease has a holder now (1) or is vacant (0), read from Redis at scrape time.\n"
        out += "# TYPE baton_lease_held gauge\n"
        guard case .ok(let views) = services.election.all() else { return }
        for v in views.prefix(maxLeases) { out += "baton_lease_held{lease=\"\(v.lease.value)\"} \(v.holder == nil ? 0 : 1)\n" }
    }
}
