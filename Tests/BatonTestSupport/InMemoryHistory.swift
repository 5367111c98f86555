import BatonCore
import BatonSupport
import Synchronization

/// The durable history in memory, with the semantics of PostgresHistory's statements
/// (Sources/BatonPostgres/History/PostgresHistory.swift, `SQL`): run upserts merged by run
/// id, tenures keyed by lease and token. Tests/BatonIntegrationTests/HistoryBehaviourTests
/// runs one suite against both, so the fake cannot drift. `failing` makes every call throw.
public final class InMemoryHistory: HistoryStore, HistoryReader {
    private struct Tenure {
        var record: TenureRecord
        var endedAtMs: Int64?
        var endReason: TenureEnd?
    }

    private struct State {
        var runs: [String: RunRecord] = [:]
        var tenures: [LeaseName: [Int64: Tenure]] = [:]
        var failing = false
    }

    private let clock: any Clock
    private let state = Mutex(State())

    public init(clock: any Clock) { self.clock = clock }

    /// While true, every call fails with a connection error.
    public var failing: Bool {
        get { state.withLock { $0.failing } }
        set { state.withLock { $0.failing = newValue } }
    }

    private func check(_ s: State) throws(BackendError) {
        if s.failing { throw BackendError(.connect, "in-memory history is failing") }
    }

    public func write(_ events: [HistoryEvent]) throws(BackendError) {
        try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            for event in events {
                switch event {
                case .run(let r):
                    s.runs[r.runId] = s.runs[r.runId].map { Self.upsert($0, r) } ?? r
                case .tenureStarted(let t):
                    var rows = s.tenures[t.lease] ?? [:]
                    if rows[t.fencingToken.value] == nil { rows[t.fencingToken.value] = Tenure(record: t) }
                    for (token, row) in rows where token < t.fencingToken.value && row.endedAtMs == nil {
                        rows[token]?.endedAtMs = t.acquiredAtMs
                        rows[token]?.endReason = .expired
                    }
                    s.tenures[t.lease] = rows
                case .tenureEnded(let t, let endedAtMs, let reason):
                    let old = s.tenures[t.lease]?[t.fencingToken.value]
                    s.tenures[t.lease, default: [:]][t.fencingToken.value] = Tenure(record: old?.record ?? t, endedAtMs: endedAtMs, endReason: reason)
                }
            }
        }
    }

    /// The upsert's ON CONFLICT clause: first claim-side values, last finish-side ones.
    private static func upsert(_ m: RunRecord, _ r: RunRecord) -> RunRecord {
        RunRecord(runId: m.runId, task: m.task, slot: m.slot ?? r.slot, holder: m.holder,
                  fencingToken: m.fencingToken ?? r.fencingToken, claimedAtMs: m.claimedAtMs ?? r.claimedAtMs,
                  lockAtMostMs: [m.lockAtMostMs, r.lockAtMostMs].compactMap { $0 }.max(),
                  finishedAtMs: r.finishedAtMs ?? m.finishedAtMs,
                  status: r.status != .running ? r.status : m.status, detail: r.detail ?? m.detail,
                  mode: m.mode, late: m.late || r.late)
    }

    /// Newest first: `ORDER BY COALESCE(claimed_at, finished_at) DESC`; as read back, without
    /// `lock_at_most_ms` (`SQL.runColumns` does not select it: only the guardrails use it).
    private static func newestFirst(_ runs: some Sequence<RunRecord>) -> [RunRecord] {
        runs.sorted { ($0.claimedAtMs ?? $0.finishedAtMs ?? 0) > ($1.claimedAtMs ?? $1.finishedAtMs ?? 0) }.map {
            RunRecord(runId: $0.runId, task: $0.task, slot: $0.slot, holder: $0.holder, fencingToken: $0.fencingToken,
                      claimedAtMs: $0.claimedAtMs, finishedAtMs: $0.finishedAtMs, status: $0.status, detail: $0.detail,
                      mode: $0.mode, late: $0.late)
        }
    }

    public func runs(of task: TaskName, limit: Int) throws(BackendError) -> [RunRecord] {
        try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            return Array(Self.newestFirst(s.runs.values.filter { $0.task == task }).prefix(limit))
        }
    }

    public func lastRuns() throws(BackendError) -> [TaskName: RunRecord] {
        try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            var last: [TaskName: RunRecord] = [:]
            for r in Self.newestFirst(s.runs.values) where last[r.task] == nil { last[r.task] = r }
            return last
        }
    }

    public func tenures(of lease: LeaseName, limit: Int) throws(BackendError) -> [TenureHistoryEntry] {
        try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            return (s.tenures[lease] ?? [:]).sorted { $0.key > $1.key }.prefix(limit).map {
                TenureHistoryEntry(record: $0.value.record, endedAtMs: $0.value.endedAtMs, endReason: $0.value.endReason)
            }
        }
    }

    public func guardrails(for resource: Resource) throws(BackendError) -> Guardrails {
        let now = clock.wallMs()
        return try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            switch resource {
            case .lease(let l):
                let rows = (s.tenures[l] ?? [:]).values
                return Guardrails(floor: rows.map(\.record.fencingToken.value).max() ?? 0,
                                  recoveryWindowMs: rows.filter { $0.endedAtMs == nil }.map(\.record.ttlMs).max() ?? 0)
            case .task(let t):
                let rows = s.runs.values.filter { $0.task == t }
                let live = rows.filter { $0.finishedAtMs == nil }.compactMap { r in
                    r.claimedAtMs.flatMap { c in r.lockAtMostMs.map { c + Int64($0) - now } }
                }
                return Guardrails(floor: rows.compactMap(\.fencingToken?.value).max() ?? 0,
                                  recoveryWindowMs: Int(max(0, live.max() ?? 0)))
            }
        }
    }

    public func completedRun(of task: TaskName, slot: Slot) throws(BackendError) -> String? {
        try state.withLock { (s: inout State) throws(BackendError) in
            try check(s)
            return s.runs.values.first { $0.task == task && $0.slot == slot && ($0.status == .succeeded || $0.status == .failed) }?.runId
        }
    }
}
