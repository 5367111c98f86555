import Foundation

/// When a shared schedule fires, computed the same way on every replica so that all of
/// them claim the same slot. Ported from Jellyfin 10.11.11,
/// Emby.Server.Implementations/ScheduledTasks/Triggers/{Interval,Daily,Weekly,Startup}Trigger.cs,
/// with the differences a shared schedule needs (each says why).
enum FireTimes {
    /// IntervalTrigger: `max(last EndTimeUtc, last start, now + 1 min) + interval`, and
    /// `now + 1 h` for a task that never ran. `now` differs per replica (and Jellyfin's
    /// `now + 1 min` pushes the task back at every restart), so here the base is the last
    /// run anywhere, from Baton's history (start and end), and a task that never ran fires
    /// `neverRunDelayMs` (Jellyfin's 1 h) after its schedule was first saved in Baton.
    static func interval(intervalMs: Int64, lastStartMs: Int64?, lastEndMs: Int64?, firstSavedAtMs: Int64,
                         neverRunDelayMs: Int64) -> Int64 {
        guard let base = [lastStartMs, lastEndMs].compactMap({ $0 }).max() else {
            return firstSavedAtMs + neverRunDelayMs
        }
        return base + intervalMs
    }

    /// The first instant strictly after `after` at `timeOfDayMs` local time in `zone`
    /// (DailyTrigger), on `weekday` when given (WeeklyTrigger; 0 = Sunday ... 6 = Saturday).
    ///
    /// Jellyfin takes `DateTime.Now.Date + TimeOfDay` and waits `triggerDate - now`, a
    /// wall-clock difference, so across a DST change: a local time that does not exist
    /// (spring forward, 02:30 in a 02:00 -> 03:00 gap) fires as many real hours after
    /// midnight as asked, i.e. at 03:30; a local time that occurs twice (fall back) fires
    /// at its first occurrence. Both are reproduced here, from local midnight, so every
    /// replica gets the same instant whenever it computes it.
    static func nextLocal(after: Date, timeOfDayMs: Int64, weekday: Int? = nil, zone: TimeZone) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var day = calendar.startOfDay(for: after)
        for _ in 0..<16 {
            if weekday == nil || calendar.component(.weekday, from: day) - 1 == weekday {
                let fire = instant(on: day, timeOfDayMs: timeOfDayMs, calendar: calendar)
                if fire > after { return fire }
            }
            // Noon of the day, plus a day, then back to its midnight: safe across DST.
            day = calendar.startOfDay(for: day.addingTimeInterval(36 * 3600))
        }
        return after.addingTimeInterval(7 * 86_400)
    }

    /// `timeOfDayMs` after the local midnight `midnight`, as described in ``nextLocal``.
    static func instant(on midnight: Date, timeOfDayMs: Int64, calendar: Calendar) -> Date {
        let zone = calendar.timeZone
        let naive = midnight.addingTimeInterval(Double(timeOfDayMs) / 1000)
        let shift = zone.secondsFromGMT(for: naive) - zone.secondsFromGMT(for: midnight)
        let corrected = naive.addingTimeInterval(-Double(shift))
        let wanted = (hour: Int(timeOfDayMs / 3_600_000), minute: Int(timeOfDayMs / 60_000 % 60), second: Int(timeOfDayMs / 1000 % 60))
        let got = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: corrected)
        let day = calendar.dateComponents([.year, .month, .day], from: midnight)
        if got.year == day.year, got.month == day.month, got.day == day.day,
           got.hour == wanted.hour, got.minute == wanted.minute, got.second == wanted.second {
            return corrected
        }
        // The local time does not exist that day: real time after midnight, as Jellyfin.
        return naive
    }

    /// StartupTrigger fires 3 s after Jellyfin starts. Pods that start together must share
    /// one run, so the slot is the start of the `windowMs` window the start fell in: every
    /// pod (re)started within the same window claims the same slot. (The sidecar also skips
    /// the fire when the task ran anywhere less than a window ago, so a start just across a
    /// window boundary, or a pod restarting soon after, does not run it again.)
    static func startupSlot(nowMs: Int64, windowMs: Int64) -> String {
        "startup@" + slot(ms: nowMs - ((nowMs % windowMs) + windowMs) % windowMs)
    }

    /// A slot is the fire time, RFC 3339 UTC with milliseconds.
    static func slot(ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}
