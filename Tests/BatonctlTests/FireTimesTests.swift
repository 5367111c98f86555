import Foundation
import Testing
@testable import batonctl

/// Fire times of shared schedules (FireTimes), ported from Jellyfin 10.11.11 Triggers/*.cs.
@Suite struct FireTimesTests {
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    /// A UTC instant from text.
    static func utc(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)!
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    @Test func intervalCountsFromTheLastRunAnywhere() {
        // max(start, end) + interval: the end usually.
        #expect(FireTimes.interval(intervalMs: 60_000, lastStartMs: 1_000, lastEndMs: 5_000, firstSavedAtMs: 0, neverRunDelayMs: 3_600_000) == 65_000)
        // A run still without an end: from its start.
        #expect(FireTimes.interval(intervalMs: 60_000, lastStartMs: 1_000, lastEndMs: nil, firstSavedAtMs: 0, neverRunDelayMs: 3_600_000) == 61_000)
        // Never ran: Jellyfin's hour, from the first save (the same on every pod).
        #expect(FireTimes.interval(intervalMs: 60_000, lastStartMs: nil, lastEndMs: nil, firstSavedAtMs: 7_000, neverRunDelayMs: 3_600_000) == 3_607_000)
    }

    @Test func dailyIsLocalTimeNotUTC() {
        // 02:00 in Berlin in winter (UTC+1) is 01:00 UTC.
        let next = FireTimes.nextLocal(after: Self.utc("2026-12-01T12:00:00Z"), timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(next) == "2026-12-02T01:00:00Z")
        // Later the same local day when not yet past.
        let today = FireTimes.nextLocal(after: Self.utc("2026-12-01T00:30:00Z"), timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(today) == "2026-12-01T01:00:00Z")
        // In summer (UTC+2) the same trigger is 00:00 UTC.
        let summer = FireTimes.nextLocal(after: Self.utc("2026-07-01T12:00:00Z"), timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(summer) == "2026-07-02T00:00:00Z")
    }

    @Test func aFireTimeIsStrictlyAfterTheLastOne() {
        let fire = Self.utc("2026-12-02T01:00:00Z")
        let next = FireTimes.nextLocal(after: fire, timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(next) == "2026-12-03T01:00:00Z")
    }

    @Test func springForwardGapFiresAsManyHoursAfterMidnightAsJellyfinWaits() {
        // Berlin 2026-03-29: 02:00 CET -> 03:00 CEST. 02:30 does not exist; Jellyfin waits
        // 2.5 h of real time after midnight (00:00 CET = 23:00 UTC): 01:30 UTC = 03:30 CEST.
        let next = FireTimes.nextLocal(after: Self.utc("2026-03-28T23:10:00Z"), timeOfDayMs: 9_000_000, zone: Self.berlin)
        #expect(Self.iso(next) == "2026-03-29T01:30:00Z")
        // 04:00 exists: 04:00 CEST = 02:00 UTC.
        let four = FireTimes.nextLocal(after: Self.utc("2026-03-28T23:10:00Z"), timeOfDayMs: 4 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(four) == "2026-03-29T02:00:00Z")
        // The day after, back to normal: 02:30 CEST = 00:30 UTC.
        let after = FireTimes.nextLocal(after: Self.utc("2026-03-29T12:00:00Z"), timeOfDayMs: 9_000_000, zone: Self.berlin)
        #expect(Self.iso(after) == "2026-03-30T00:30:00Z")
    }

    @Test func fallBackRepeatedHourFiresOnceAtItsFirstOccurrence() {
        // Berlin 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice. First: 00:30 UTC.
        let first = FireTimes.nextLocal(after: Self.utc("2026-10-24T22:30:00Z"), timeOfDayMs: 9_000_000, zone: Self.berlin)
        #expect(Self.iso(first) == "2026-10-25T00:30:00Z")
        // Having fired, the next one is the next day's, not the repeat an hour later.
        let next = FireTimes.nextLocal(after: first, timeOfDayMs: 9_000_000, zone: Self.berlin)
        #expect(Self.iso(next) == "2026-10-26T01:30:00Z")
        // After the change, 04:00 CET = 03:00 UTC.
        let four = FireTimes.nextLocal(after: Self.utc("2026-10-24T22:30:00Z"), timeOfDayMs: 4 * 3_600_000, zone: Self.berlin)
        #expect(Self.iso(four) == "2026-10-25T03:00:00Z")
    }

    @Test func newYorkSpringForward() {
        // 2026-03-08 02:00 EST -> 03:00 EDT; 02:15 EST does not exist: midnight EST (05:00 UTC) + 2h15 = 07:15 UTC (03:15 EDT).
        let next = FireTimes.nextLocal(after: Self.utc("2026-03-08T05:30:00Z"), timeOfDayMs: 8_100_000, zone: Self.newYork)
        #expect(Self.iso(next) == "2026-03-08T07:15:00Z")
    }

    @Test func weeklyFiresOnItsDayInLocalTime() {
        // 2026-12-01 is a Tuesday. Sunday (0) 03:30 Berlin = 02:30 UTC on 2026-12-06.
        let next = FireTimes.nextLocal(after: Self.utc("2026-12-01T12:00:00Z"), timeOfDayMs: 12_600_000, weekday: 0, zone: Self.berlin)
        #expect(Self.iso(next) == "2026-12-06T02:30:00Z")
        // On its own day, later that day; once past, a week on (Tuesday = 2).
        let sameDay = FireTimes.nextLocal(after: Self.utc("2026-12-01T12:00:00Z"), timeOfDayMs: 20 * 3_600_000, weekday: 2, zone: Self.berlin)
        #expect(Self.iso(sameDay) == "2026-12-01T19:00:00Z")
        let weekOn = FireTimes.nextLocal(after: Self.utc("2026-12-01T12:00:00Z"), timeOfDayMs: 3_600_000, weekday: 2, zone: Self.berlin)
        #expect(Self.iso(weekOn) == "2026-12-08T00:00:00Z")
        // Near midnight UTC, the local day decides: Tuesday 23:30 UTC is already Wednesday
        // 00:30 in Berlin, so Wednesday 01:00 is half an hour away (not a week).
        let wed = FireTimes.nextLocal(after: Self.utc("2026-12-01T23:30:00Z"), timeOfDayMs: 3_600_000, weekday: 3, zone: Self.berlin)
        #expect(Self.iso(wed) == "2026-12-02T00:00:00Z")
    }

    @Test func everyPodGetsTheSameSlotWhenEverItComputes() {
        let a = FireTimes.nextLocal(after: Self.utc("2026-12-01T03:00:00Z"), timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        let b = FireTimes.nextLocal(after: Self.utc("2026-12-01T22:59:00Z"), timeOfDayMs: 2 * 3_600_000, zone: Self.berlin)
        #expect(FireTimes.slot(ms: FireTimes.ms(a)) == FireTimes.slot(ms: FireTimes.ms(b)))
        #expect(FireTimes.slot(ms: FireTimes.ms(a)) == "2026-12-02T01:00:00.000Z")
    }

    @Test func startupSlotsShareAWindow() {
        let w: Int64 = 600_000
        let base: Int64 = 1_796_086_800_000  // a multiple of 10 minutes
        #expect(FireTimes.startupSlot(nowMs: base + 1_000, windowMs: w) == FireTimes.startupSlot(nowMs: base + 599_000, windowMs: w))
        #expect(FireTimes.startupSlot(nowMs: base + 1_000, windowMs: w) != FireTimes.startupSlot(nowMs: base + 600_000, windowMs: w))
        #expect(FireTimes.startupSlot(nowMs: base + 1_000, windowMs: w).hasPrefix("startup@"))
    }
}

@Suite struct JellyfinTriggerTests {
    @Test func convertsJellyfinTicksToMillisecondsAndBack() throws {
        let json = #"[{"Type":"DailyTrigger","TimeOfDayTicks":72000000000,"MaxRuntimeTicks":144000000000},{"Type":"IntervalTrigger","IntervalTicks":432000000000},{"Type":"WeeklyTrigger","TimeOfDayTicks":0,"DayOfWeek":"Sunday"},{"Type":"StartupTrigger"}]"#
        let infos = try JSONDecoder().decode([JellyfinTriggerInfo].self, from: Data(json.utf8))
        let triggers = infos.compactMap(Trigger.init(jellyfin:))
        #expect(triggers == [
            Trigger(kind: .daily, timeOfDayMs: 7_200_000, maxRuntimeMs: 14_400_000),
            Trigger(kind: .interval, intervalMs: 43_200_000),
            Trigger(kind: .weekly, timeOfDayMs: 0, dayOfWeek: "Sunday"),
            Trigger(kind: .startup),
        ])
        #expect(triggers.map(\.jellyfin) == infos)
        #expect(triggers.map(\.summary) == ["daily 02:00 (max 4h)", "every 12h", "Sunday 00:00", "at startup"])
    }

    @Test func unknownTriggerTypesAreNotTakenOver() {
        #expect(Trigger(jellyfin: JellyfinTriggerInfo(Type: "SystemEventTrigger")) == nil)
        #expect(Trigger(jellyfin: JellyfinTriggerInfo(Type: "WeeklyTrigger", TimeOfDayTicks: 0, DayOfWeek: "Funday")) == nil)
    }

    @Test func readsJellyfinTimesWithSevenFractionDigits() {
        #expect(JellyfinTime.parse("2026-12-01T17:00:00.1234567Z") == 1_796_144_400_123)
        #expect(JellyfinTime.parse("2026-12-01T17:00:00Z") == 1_796_144_400_000)
        #expect(JellyfinTime.parse("not a time") == nil)
    }

    @Test func anOlderSnapshotIsNotANewRun() {
        let old = JellyfinTaskResult(StartTimeUtc: "2026-12-01T17:00:00.0000000Z", EndTimeUtc: "2026-12-01T17:00:01.0000000Z", Status: "Completed")
        let new = JellyfinTaskResult(StartTimeUtc: "2026-12-01T17:05:00.0000000Z", EndTimeUtc: "2026-12-01T17:05:01.0000000Z", Status: "Failed")
        #expect(ScheduleSidecar.isNewer(new, than: old))
        #expect(!ScheduleSidecar.isNewer(old, than: new))
        #expect(!ScheduleSidecar.isNewer(old, than: old))
        #expect(ScheduleSidecar.isNewer(old, than: nil))
    }

    @Test func onlyAChangedResultEndsARun() {
        let before = JellyfinTaskResult(StartTimeUtc: "2026-12-01T17:00:00.0000000Z", EndTimeUtc: "2026-12-01T17:00:01.0000000Z", Status: "Completed")
        let run = RunContext(name: "RefreshLibrary", jellyfinId: "x", slot: "s", runId: "r", claimedAtMs: 1_796_144_700_000, maxRuntimeMs: nil,
                             before: before, alreadyStarted: false)
        // Idle with the previous result (Jellyfin writes the new one a moment later): not the end.
        #expect(!ScheduleSidecar.ends(run, before))
        #expect(!ScheduleSidecar.ends(run, nil))
        let after = JellyfinTaskResult(StartTimeUtc: "2026-12-01T17:05:00.0000000Z", EndTimeUtc: "2026-12-01T17:05:02.0000000Z", Status: "Completed")
        #expect(ScheduleSidecar.ends(run, after))
        // An adopted run: a result that started after the claim was taken.
        var adopted = run
        adopted.alreadyStarted = true
        adopted.before = nil
        #expect(ScheduleSidecar.ends(adopted, after))
        #expect(!ScheduleSidecar.ends(adopted, before))
    }

    @Test func perPodDefaultsSkipAndBatonNames() throws {
        let o = try ScheduleOptions.parse(["--per-pod", "RefreshGuide", "--skip", "PluginUpdates"])
        func task(_ key: String?) -> JellyfinTask { JellyfinTask(Id: "d1c5f0e2a3b44c6d8e9fa0b1c2d3e4f5", Key: key) }
        #expect(o.scope(of: task("DeleteTranscodeFiles")) == .perPod)
        #expect(o.scope(of: task("RefreshGuide")) == .perPod)
        #expect(o.scope(of: task("PluginUpdates")) == .skipped)
        #expect(o.scope(of: task("RefreshLibrary")) == .library)
        #expect(ScheduleOptions.batonName(task("RefreshLibrary")) == "RefreshLibrary")
        #expect(ScheduleOptions.batonName(task("Intro Skipper/Detect")) == "d1c5f0e2a3b44c6d8e9fa0b1c2d3e4f5")
    }
}
