import BatonAPI
import BatonCore
import BatonHTTP
import BatonTestSupport
import Synchronization
import Testing

/// The schedule series the "slot missed" alert compares claims with
/// (docker/k8s/prometheus-rules.yaml, BatonTaskSlotMissed): computed from the saved
/// schedules, bounded, and never a failing `/metrics` when PostgreSQL is away.
@Suite struct ScheduleMetricsTests {
    static let hour: Int64 = 3_600_000

    @Test func periodIsTheShortestTriggerPeriod() {
        #expect(ScheduleTrigger(kind: .interval, intervalMs: 6 * Self.hour).periodMs == 21_600_000)
        #expect(ScheduleTrigger(kind: .daily, timeOfDayMs: 3 * Self.hour).periodMs == 86_400_000)
        #expect(ScheduleTrigger(kind: .weekly, timeOfDayMs: 0, dayOfWeek: .Sunday).periodMs == 604_800_000)
        #expect(ScheduleTrigger(kind: .startup).periodMs == nil)

        func period(_ triggers: [ScheduleTrigger]) -> Int64? { Self.schedule("T", triggers).periodMs }
        #expect(period([.init(kind: .weekly, timeOfDayMs: 0, dayOfWeek: .Monday), .init(kind: .startup),
                        .init(kind: .interval, intervalMs: 36 * Self.hour)]) == 36 * Self.hour)
        #expect(period([.init(kind: .weekly, timeOfDayMs: 0, dayOfWeek: .Monday), .init(kind: .daily, timeOfDayMs: 0),
                        .init(kind: .interval, intervalMs: 36 * Self.hour)]) == 86_400_000)
        #expect(period([.init(kind: .startup), .init(kind: .startup)]) == nil)
    }

    @Test func metricsExportSavedSchedulesButNotStartupOnlyOnes() {
        let (service, store, _) = Self.service()
        store.set([
            Self.schedule("RefreshLibrary", [.init(kind: .interval, intervalMs: 12 * Self.hour), .init(kind: .startup)], firstSavedAtMs: 1_700_000_000_500),
            Self.schedule("CleanActivityLog", [.init(kind: .daily, timeOfDayMs: 0)], firstSavedAtMs: 1_700_000_100_000),
            Self.schedule("PluginUpdates", [.init(kind: .startup)]),
        ])
        let text = Self.metricsText(service)
        #expect(Self.samples(text, "baton_schedule_period_seconds") == [
            #"baton_schedule_period_seconds{task="CleanActivityLog"} 86400.0"#,
            #"baton_schedule_period_seconds{task="RefreshLibrary"} 43200.0"#,
        ])
        #expect(Self.samples(text, "baton_schedule_first_saved_timestamp_seconds") == [
            #"baton_schedule_first_saved_timestamp_seconds{task="CleanActivityLog"} 1700000100.0"#,
            #"baton_schedule_first_saved_timestamp_seconds{task="RefreshLibrary"} 1700000000.5"#,
        ])
        #expect(text.contains("# TYPE baton_schedule_period_seconds gauge\n"))
    }

    @Test func theTaskLabelIsCapped() {
        let (service, store, _) = Self.service()
        store.set((0..<(ScheduleMetrics.maxTasks + 50)).map {
            Self.schedule("task-\(String(1000 + $0))", [.init(kind: .interval, intervalMs: Self.hour)])
        })
        let lines = Self.samples(Self.metricsText(service), "baton_schedule_period_seconds")
        #expect(lines.count == ScheduleMetrics.maxTasks)
        #expect(lines.first == #"baton_schedule_period_seconds{task="task-1000"} 3600.0"#)
        #expect(!lines.contains { $0.contains("task-1200") })
    }

    @Test func postgresAwayServesTheLastReadForAWhileThenNothing() {
        let (service, store, clock) = Self.service()
        store.set([Self.schedule("RefreshLibrary", [.init(kind: .interval, intervalMs: Self.hour)])])
        let line = #"baton_schedule_period_seconds{task="RefreshLibrary"} 3600.0"#
        #expect(Self.samples(Self.metricsText(service), "baton_schedule_period_seconds") == [line])

        // Within the fresh window the store is not asked again.
        store.set([])
        store.failing(true)
        clock.advance(ms: 5_000)
        #expect(Self.samples(Self.metricsText(service), "baton_schedule_period_seconds") == [line])
        #expect(store.reads == 1)

        // Failing reads (the breaker opens after a few): the last good read, until it is too old.
        for _ in 0..<5 {
            clock.advance(ms: 60_000)
            let response = service.handle(HTTPRequest(method: "GET", path: "/metrics"))
            #expect(response.status == 200)
            #expect(Self.samples(String(decoding: response.body, as: UTF8.self), "baton_schedule_period_seconds") == [line])
        }
        clock.advance(ms: 600_000)
        let text = Self.metricsText(service)
        #expect(Self.samples(text, "baton_schedule_period_seconds").isEmpty)
        #expect(text.contains("# TYPE baton_schedule_period_seconds gauge\n"))
        #expect(text.contains("baton_build_info"))
    }

    // MARK: - Helpers

    static func schedule(_ task: String, _ triggers: [ScheduleTrigger], firstSavedAtMs: Int64 = 1_700_000_000_000) -> Schedule {
        Schedule(task: TaskName(task)!, triggers: triggers, revision: 1, firstSavedAtMs: firstSavedAtMs, savedAtMs: firstSavedAtMs,
                 savedBy: Holder("test")!, note: nil)
    }

    static func samples(_ text: String, _ family: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(family + "{") }
    }

    /// `/schedules` through ``ScheduleService``: the rows while PostgreSQL answers, a 503
    /// with Retry-After while it fails, and no read at all once the breaker is open.
    @Test func schedulesAnswer503WithRetryAfterWhilePostgreSQLIsDown() {
        let (service, store, _) = Self.service()
        store.set([Self.schedule("RefreshLibrary", [.init(kind: .interval, intervalMs: 12 * Self.hour)])])
        func get(_ path: String) -> HTTPResponse { service.handle(HTTPRequest(method: "GET", path: path)) }
        #expect(get("/schedules/RefreshLibrary").status == 200)
        #expect(get("/schedules/Nothing").status == 404)
        store.failing(true)
        for _ in 0..<8 {
            let down = get("/schedules")
            #expect(down.status == 503 && down.header("content-type") == "application/problem+json")
            #expect(Int(down.header("retry-after") ?? "") ?? 0 >= 1)
        }
        let readsWhileOpen = store.reads
        let open = get("/schedules/RefreshLibrary")
        #expect(open.status == 503)
        #expect(String(decoding: open.body, as: UTF8.self).contains("circuit breaker open"))
        #expect(store.reads == readsWhileOpen, "the open breaker still let the read through")
    }

    static func metricsText(_ service: BatonService) -> String {
        String(decoding: service.handle(HTTPRequest(method: "GET", path: "/metrics")).body, as: UTF8.self)
    }

    static func service() -> (BatonService, SavedSchedules, ManualClock) {
        let clock = ManualClock()
        let store = InMemoryStore(clock: clock)
        let history = RecordingHistory()
        var services = Services(
            election: LeaderElection(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                     history: history, clock: clock),
            tasks: TaskCoordinator(store: store, breaker: CircuitBreaker(backend: .redis, clock: clock), defaultPolicy: .grant,
                                   history: history, clock: clock),
            sessions: SessionValidator(directory: RouteSpecConsistencyTests.NoTokens(), breaker: CircuitBreaker(backend: .postgres, clock: clock),
                                       clock: clock),
            history: RouteSpecConsistencyTests.NoHistory(),
            outbox: HistoryOutbox(store: RecordingHistory()),
            postgresBreaker: CircuitBreaker(backend: .postgres, clock: clock),
            facts: RuntimeFacts(version: "test", startedAtMs: clock.wallMs(), redisEndpoint: "redis://test", postgresEndpoint: "test",
                                authDisabled: true, onRedisFailure: .grant),
            defaults: Defaults())
        let schedules = SavedSchedules()
        services.schedules = schedules
        services.clock = clock
        return (BatonService(services: services, auth: BearerAuth(tokens: nil), metrics: Metrics(), authorizationRules: .legacy),
                schedules, clock)
    }

    /// A schedule store whose reads can be made to fail like an unreachable PostgreSQL.
    final class SavedSchedules: ScheduleStore {
        private struct State {
            var schedules: [Schedule] = []
            var failing = false
            var reads = 0
        }

        private let state = Mutex(State())

        func set(_ schedules: [Schedule]) { state.withLock { $0.schedules = schedules } }
        func failing(_ on: Bool) { state.withLock { $0.failing = on } }
        var reads: Int { state.withLock { $0.reads } }

        func all() throws(BackendError) -> [Schedule] {
            let (schedules, failing) = state.withLock { s in
                s.reads += 1
                return (s.schedules, s.failing)
            }
            if failing { throw BackendError(.connect, "connection refused") }
            return schedules
        }

        func schedule(of task: TaskName) throws(BackendError) -> Schedule? { try all().first { $0.task == task } }

        func save(_ task: TaskName, triggers: [ScheduleTrigger], by holder: Holder, note: String?, atMs: Int64) throws(BackendError) -> ScheduleSave {
            throw BackendError(.server, "read-only in this test")
        }

        func revisions(of task: TaskName, limit: Int) throws(BackendError) -> [Schedule] { [] }
    }
}
