import Foundation

/// Jellyfin's TaskTriggerInfo as its REST API sends it (PascalCase, enums as strings;
/// MediaBrowser.Model/Tasks/TaskTriggerInfo.cs and TaskTriggerInfoType.cs, v10.11.11).
struct JellyfinTriggerInfo: Codable, Sendable, Equatable {
    var `Type`: String
    var TimeOfDayTicks: Int64?
    var IntervalTicks: Int64?
    var DayOfWeek: String?
    var MaxRuntimeTicks: Int64?
}

/// One trigger in batonctl's own terms, converted to and from Jellyfin's form and Baton's
/// `/schedules` form. Durations in milliseconds; 1 Jellyfin tick = 100 ns = 1/10,000 ms.
struct Trigger: Sendable, Equatable {
    enum Kind: String, Sendable { case interval, daily, weekly, startup }
    var kind: Kind
    var intervalMs: Int64? = nil
    var timeOfDayMs: Int64? = nil
    /// Sunday ... Saturday (.NET's DayOfWeek names).
    var dayOfWeek: String? = nil
    var maxRuntimeMs: Int64? = nil

    static let ticksPerMs: Int64 = 10_000
    static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// Nil for a trigger type batonctl does not know (it is then left alone).
    init?(jellyfin t: JellyfinTriggerInfo) {
        switch t.Type {
        case "IntervalTrigger":
            guard let i = t.IntervalTicks, i > 0 else { return nil }
            kind = .interval
            intervalMs = i / Self.ticksPerMs
        case "DailyTrigger":
            kind = .daily
            timeOfDayMs = (t.TimeOfDayTicks ?? 0) / Self.ticksPerMs
        case "WeeklyTrigger":
            guard let d = t.DayOfWeek, Self.days.contains(d) else { return nil }
            kind = .weekly
            timeOfDayMs = (t.TimeOfDayTicks ?? 0) / Self.ticksPerMs
            dayOfWeek = d
        case "StartupTrigger":
            kind = .startup
        default:
            return nil
        }
        maxRuntimeMs = t.MaxRuntimeTicks.flatMap { $0 > 0 ? $0 / Self.ticksPerMs : nil }
    }

    init(kind: Kind, intervalMs: Int64? = nil, timeOfDayMs: Int64? = nil, dayOfWeek: String? = nil, maxRuntimeMs: Int64? = nil) {
        self.kind = kind
        self.intervalMs = intervalMs
        self.timeOfDayMs = timeOfDayMs
        self.dayOfWeek = dayOfWeek
        self.maxRuntimeMs = maxRuntimeMs
    }

    init?(baton t: Schemas.ScheduleTrigger) {
        guard let kind = Kind(rawValue: t._type.rawValue) else { return nil }
        self.init(kind: kind, intervalMs: t.interval_ms, timeOfDayMs: t.time_of_day_ms,
                  dayOfWeek: t.day_of_week?.rawValue, maxRuntimeMs: t.max_runtime_ms)
    }

    var jellyfin: JellyfinTriggerInfo {
        let type: String
        switch kind {
        case .interval: type = "IntervalTrigger"
        case .daily: type = "DailyTrigger"
        case .weekly: type = "WeeklyTrigger"
        case .startup: type = "StartupTrigger"
        }
        return JellyfinTriggerInfo(Type: type, TimeOfDayTicks: timeOfDayMs.map { $0 * Self.ticksPerMs },
                                   IntervalTicks: intervalMs.map { $0 * Self.ticksPerMs }, DayOfWeek: dayOfWeek,
                                   MaxRuntimeTicks: maxRuntimeMs.map { $0 * Self.ticksPerMs })
    }

    var batonInput: Schemas.ScheduleTriggerInput {
        Schemas.ScheduleTriggerInput(_type: Schemas.ScheduleTriggerType(rawValue: kind.rawValue)!, interval_ms: intervalMs,
                                     time_of_day_ms: timeOfDayMs, day_of_week: dayOfWeek.flatMap(Schemas.DayOfWeek.init(rawValue:)),
                                     max_runtime_ms: maxRuntimeMs)
    }

    /// `every 12h`, `daily 02:00 (max 4h)`, `Sunday 03:30`, `at startup`.
    var summary: String {
        var s: String
        switch kind {
        case .interval: s = "every \(CLIDuration(milliseconds: intervalMs ?? 0))"
        case .daily: s = "daily \(Self.clock(timeOfDayMs ?? 0))"
        case .weekly: s = "\(dayOfWeek ?? "?") \(Self.clock(timeOfDayMs ?? 0))"
        case .startup: s = "at startup"
        }
        if let m = maxRuntimeMs { s += " (max \(CLIDuration(milliseconds: m)))" }
        return s
    }

    static func clock(_ ms: Int64) -> String {
        let minutes = ms / 60_000
        let text = String(format: "%02d:%02d", Int(minutes / 60), Int(minutes % 60))
        return ms % 60_000 == 0 ? text : text + String(format: ":%02d", Int(ms / 1000 % 60))
    }
}
