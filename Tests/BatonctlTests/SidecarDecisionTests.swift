import Foundation
import Testing
@testable import batonctl

/// When the sidecar fires a task (ScheduleSidecar.due), from Baton's schedules and history.
@Suite struct SidecarDecisionTests {
    static func sidecar(window: Int64 = 600_000) throws -> ScheduleSidecar {
        let options = try ScheduleOptions.parse(["--startup-window", "\(window)ms"])
        // Nothing listens on port 9: these tests never call out.
        return ScheduleSidecar(jf: JellyfinClient(baseURL: "http://127.0.0.1:9", apiKey: "k"),
                               baton: try BatonClient(baseURL: "http://127.0.0.1:9", token: nil, timeout: 1), holder: "pod-a",
                               options: options, zone: TimeZone(identifier: "UTC")!, policy: try RunPolicyOptions.parse([]), poll: .seconds(1),
                               claimTTLMs: 60_000, startTimeout: .seconds(60))
    }

    static func schedule(_ triggers: [Schemas.ScheduleTrigger], firstSaved: Date) -> Schemas.Schedule {
        Schemas.Schedule(task: "RefreshLibrary", triggers: triggers, revision: 1, first_saved_at: firstSaved, saved_at: firstSaved, saved_by: "pod-a")
    }

    static func trigger(_ type: Schemas.ScheduleTriggerType, interval: Int64? = nil) -> Schemas.ScheduleTrigger {
        Schemas.ScheduleTrigger(_type: type, interval_ms: interval, time_of_day_ms: nil, day_of_week: nil, max_runtime_ms: nil)
    }

    static func run(_ id: String, status: Schemas.RunStatus, start: Date, end: Date?) -> Schemas.NullableRun {
        Schemas.NullableRun(run_id: id, task: "RefreshLibrary", holder: "pod-b", claimed_at: start, finished_at: end, status: status,
                            mode: .normal, late: false)
    }

    @Test func aNeverRunIntervalTaskFiresAnHourAfterItsFirstSave() async throws {
        let s = try Self.sidecar()
        let hour = Self.trigger(.interval, interval: 3_600_000)
        let saved = Date().addingTimeInterval(-7_200)
        let schedule = Self.schedule([hour], firstSaved: saved)
        let fire = try #require(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: [Trigger(kind: .interval, intervalMs: 3_600_000)]))
        #expect(fire.slot == FireTimes.slot(ms: FireTimes.ms(saved) + 3_600_000))
        let recent = Self.schedule([hour], firstSaved: Date().addingTimeInterval(-600))
        #expect(await s.due(name: "RefreshLibrary", schedule: recent, triggers: [Trigger(kind: .interval, intervalMs: 3_600_000)]) == nil)
    }

    @Test func theLastRunAnywhereMovesTheIntervalAndATriedSlotIsNotFiredTwice() async throws {
        let s = try Self.sidecar()
        let end = Date().addingTimeInterval(-4_000)
        await s.remember(schedules: [], tasks: [Schemas.TaskSummary(task: "RefreshLibrary",
                                                                    last_run: Self.run("r1", status: .failed, start: end.addingTimeInterval(-60), end: end))])
        let schedule = Self.schedule([Self.trigger(.interval, interval: 3_600_000)], firstSaved: Date().addingTimeInterval(-86_400))
        let triggers = [Trigger(kind: .interval, intervalMs: 3_600_000)]
        let fire = try #require(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: triggers))
        #expect(fire.slot == FireTimes.slot(ms: FireTimes.ms(end) + 3_600_000))
        await s.markAttempted("RefreshLibrary", fire)
        #expect(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: triggers) == nil)
    }

    @Test func aHistoryRowRunningWithoutAClaimBlocksOnlyAWhile() async throws {
        let s = try Self.sidecar()
        let summary = Schemas.TaskSummary(task: "RefreshLibrary", last_run: Self.run("r2", status: .running, start: Date(), end: nil))
        let t: Int64 = 1_796_144_400_000
        #expect(await s.historyShowsRunning(summary, now: t))
        #expect(await s.historyShowsRunning(summary, now: t + ScheduleSidecar.staleAfterMs - 1))
        #expect(await !s.historyShowsRunning(summary, now: t + ScheduleSidecar.staleAfterMs))
        let done = Schemas.TaskSummary(task: "RefreshLibrary", last_run: Self.run("r3", status: .succeeded, start: Date(), end: Date()))
        #expect(await !s.historyShowsRunning(done, now: t))
    }

    @Test func startupSkipsWhenTheTaskRanWithinTheWindow() async throws {
        let s = try Self.sidecar(window: 600_000)
        let schedule = Self.schedule([Self.trigger(.startup)], firstSaved: Date().addingTimeInterval(-86_400))
        let ago5m = Date().addingTimeInterval(-300)
        await s.remember(schedules: [], tasks: [Schemas.TaskSummary(task: "RefreshLibrary",
                                                                    last_run: Self.run("r4", status: .succeeded, start: ago5m, end: ago5m))])
        #expect(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: [Trigger(kind: .startup)]) == nil)
        let ago20m = Date().addingTimeInterval(-1_200)
        await s.remember(schedules: [], tasks: [Schemas.TaskSummary(task: "RefreshLibrary",
                                                                    last_run: Self.run("r5", status: .succeeded, start: ago20m, end: ago20m))])
        let fire = try #require(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: [Trigger(kind: .startup)]))
        #expect(fire.slot.hasPrefix("startup@"))
    }

    @Test func aDailyTriggerIsNotDueBeforeItsTime() async throws {
        let s = try Self.sidecar()
        let schedule = Self.schedule([Schemas.ScheduleTrigger(_type: .daily, interval_ms: nil, time_of_day_ms: 0, day_of_week: nil, max_runtime_ms: nil)],
                                     firstSaved: Date().addingTimeInterval(-86_400))
        // Midnight UTC is always ahead of now: nothing due, however long ago it was saved.
        #expect(await s.due(name: "RefreshLibrary", schedule: schedule, triggers: [Trigger(kind: .daily, timeOfDayMs: 0)]) == nil)
    }
}
