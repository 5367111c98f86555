import ArgumentParser
import Foundation

/// Which of a pod's Jellyfin tasks Baton schedules.
enum TaskScope: String, Sendable {
    /// Baton keeps the schedule and fires it once across replicas.
    case library = "library-wide"
    /// Each pod keeps its own triggers (the task cleans the pod's own disk).
    case perPod = "per-pod"
    /// Left alone entirely (--skip).
    case skipped
}

/// Options shared by `jellyfin schedule`, `jellyfin status` and `jellyfin restore`.
struct ScheduleOptions: ParsableArguments {
    /// Tasks that work on the pod's own files (Jellyfin 10.11: cache, logs, transcodes).
    static let defaultPerPod = ["DeleteCacheFiles", "CleanLogFiles", "DeleteTranscodeFiles"]

    @Option(name: .customLong("per-pod"), help: ArgumentHelp("A task Key that keeps its own triggers on every pod (repeatable; added to \(defaultPerPod.joined(separator: ", "))).", valueName: "key"))
    var perPod: [String] = []

    @Option(help: ArgumentHelp("A task Key to leave alone entirely (repeatable).", valueName: "key"))
    var skip: [String] = []

    @Option(help: ArgumentHelp("Time zone of Daily and Weekly triggers (default: TZ, else the system's).", valueName: "zone"))
    var timeZone: String?

    @Option(help: ArgumentHelp("An Interval task that never ran fires this long after its schedule was first saved (Jellyfin: 1h).", valueName: "duration"))
    var firstRunDelay = CLIDuration(milliseconds: 3_600_000)

    @Option(help: ArgumentHelp("Startup triggers: pods starting within the same window of this length share one run.", valueName: "duration"))
    var startupWindow = CLIDuration(milliseconds: 600_000)

    mutating func validate() throws {
        _ = try zone()
        guard startupWindow.milliseconds >= 1000 else { throw ValidationError("--startup-window must be at least 1s") }
    }

    func zone() throws -> TimeZone {
        let name = timeZone ?? ProcessInfo.processInfo.environment["TZ"].flatMap { $0.isEmpty ? nil : $0 }
        guard let name else { return TimeZone.current }
        // TZ may be ":Europe/Berlin" (POSIX form for a zone file).
        let id = name.hasPrefix(":") ? String(name.dropFirst()) : name
        guard let zone = TimeZone(identifier: id) else {
            throw ValidationError("unknown time zone '\(name)' (\(timeZone == nil ? "TZ" : "--time-zone")); use an IANA name such as Europe/Berlin")
        }
        return zone
    }

    func scope(of task: JellyfinTask) -> TaskScope {
        let key = task.Key ?? task.Id
        if skip.contains(key) || skip.contains(task.Id) { return .skipped }
        if Self.defaultPerPod.contains(key) || perPod.contains(key) || perPod.contains(task.Id) { return .perPod }
        return .library
    }

    /// The Baton task name of a Jellyfin task: its Key (RefreshLibrary), or its Id when
    /// the Key is not a valid Baton name (a plugin's Key may be anything).
    static func batonName(_ task: JellyfinTask) -> String {
        if let key = task.Key, Names.isName(key) { return key }
        return task.Id
    }
}

extension JellyfinTaskResult {
    var startMs: Int64? { StartTimeUtc.flatMap(JellyfinTime.parse) }
    var endMs: Int64? { EndTimeUtc.flatMap(JellyfinTime.parse) }
}

/// Jellyfin's DateTime in JSON: `2026-12-01T17:00:00.1234567Z` (7 fraction digits) or an offset.
enum JellyfinTime {
    static func parse(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let rest = text[text.index(after: dot)...]
            let digits = rest.prefix { $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            base = String(text[..<dot]) + String(rest.dropFirst(digits.count))
        }
        if !base.hasSuffix("Z"), !base.contains("+"), base.filter({ $0 == "-" }).count == 2 { base += "Z" }
        guard let date = formatter.date(from: base) else { return nil }
        return Int64(((date.timeIntervalSince1970 + fraction) * 1000).rounded())
    }
}
