import BatonCore
import BatonHTTP
import BatonSupport

/// `/schedules`, `/schedules/{task}` (GET, PUT), `/schedules/{task}/revisions`: the shared
/// schedule of a task, stored durably (PostgreSQL) and read by every replica.
struct ScheduleRoutes {
    let services: Services

    private static let putFields: Set<String> = ["triggers", "holder", "note"]
    private static let triggerFields: Set<String> = ["type", "interval_ms", "time_of_day_ms", "day_of_week", "max_runtime_ms"]
    /// Bounds what one client can make batond store and send back.
    static let maxTriggers = 32
    static let maxNoteBytes = 512

    func register(_ r: inout Router) {
        r.add("GET", "/schedules") { _, _ in list() }
        r.add("GET", "/schedules/{task}") { _, p in handle { () throws(Problem) in try get(p) } }
        r.add("PUT", "/schedules/{task}") { req, p in handle { () throws(Problem) in try put(req, p) } }
        r.add("GET", "/schedules/{task}/revisions") { req, p in handle { () throws(Problem) in try revisions(req, p) } }
    }

    private var schedules: ScheduleService? { services.scheduleService }

    private func list() -> HTTPResponse {
        guard let schedules else { return Self.notConfigured }
        return answerSchedules(schedules.all()) { .object([("schedules", .array($0.map(\.json)))]) }
    }

    private func get(_ p: RouteParameters) throws(Problem) -> HTTPResponse {
        let task = try Self.task(p)
        guard let schedules else { return Self.notConfigured }
        let outcome = schedules.schedule(of: task)
        if case .ok(nil) = outcome {
            return Problem(status: 404, code: "no_schedule", title: "No schedule",
                           detail: "no schedule has been saved for task \(task.value)").response
        }
        return answerSchedules(outcome) { $0?.json ?? .null }
    }

    private func put(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        let task = try Self.task(p)
        let body = try BodyReader(req.body, allowed: Self.putFields)
        let holder = try body.holder()
        let triggers = try Self.triggers(body.object["triggers"])
        let note = try body.string("note")
        if let note, note.utf8.count > Self.maxNoteBytes {
            throw Problem.invalidField("note", "must be at most \(Self.maxNoteBytes) bytes")
        }
        guard let schedules else { return Self.notConfigured }
        let outcome = schedules.save(task, triggers: triggers, by: holder, note: note, atMs: services.clock.wallMs())
        return answerSchedules(outcome) { save in
            let change: String
            switch save {
            case .created: change = "created"
            case .changed: change = "changed"
            case .unchanged: change = "unchanged"
            }
            guard case .object(let fields) = save.schedule.json else { return .null }
            return .object(fields + [("change", .string(change))])
        }
    }

    private func revisions(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        let task = try Self.task(p)
        let limit = try req.queryLimit()
        guard let schedules else { return Self.notConfigured }
        return answerSchedules(schedules.revisions(of: task, limit: limit)) { .object([("task", .string(task.value)), ("revisions", .array($0.map(\.json)))]) }
    }

    static func task(_ p: RouteParameters) throws(Problem) -> TaskName {
        guard let task = p["task"].flatMap(TaskName.init) else { throw Problem.invalidField("task", "must match \(NameRule.resource.pattern)") }
        return task
    }

    /// The `triggers` array, each entry checked as Jellyfin's TaskTriggerInfo would need it
    /// (MediaBrowser.Model/Tasks/TaskTriggerInfo.cs, v10.11.11), fields named in errors.
    static func triggers(_ value: JSONValue?) throws(Problem) -> [ScheduleTrigger] {
        guard let value, value != .null else { throw Problem.invalidField("triggers", "is required") }
        guard case .array(let items) = value else { throw Problem.invalidField("triggers", "expected array, got \(value.typeName)") }
        guard !items.isEmpty else {
            throw Problem.invalidField("triggers", "must not be empty: a saved schedule is never replaced by [] (Baton keeps the triggers a replica removed locally)")
        }
        guard items.count <= maxTriggers else { throw Problem.invalidField("triggers", "must have at most \(maxTriggers) entries") }
        var out: [ScheduleTrigger] = []
        for (i, item) in items.enumerated() {
            let at = "triggers[\(i)]"
            guard case .object(let pairs) = item else { throw Problem.invalidField(at, "expected object, got \(item.typeName)") }
            for (key, _) in pairs where !triggerFields.contains(key) {
                throw Problem.invalidField("\(at).\(key.prefix(64))", "unknown field; allowed: \(triggerFields.sorted().joined(separator: ", "))")
            }
            func int(_ name: String, _ range: ClosedRange<Int64>) throws(Problem) -> Int64? {
                switch item[name] {
                case nil, .null?: return nil
                case .int(let v)?:
                    guard range.contains(v) else { throw Problem.invalidField("\(at).\(name)", "must be between \(range.lowerBound) and \(range.upperBound), got \(v)") }
                    return v
                case .double(let d)?:
                    guard let v = Int64(exactly: d), range.contains(v) else {
                        throw Problem.invalidField("\(at).\(name)", "must be an integer between \(range.lowerBound) and \(range.upperBound)")
                    }
                    return v
                case let other?: throw Problem.invalidField("\(at).\(name)", "expected integer, got \(other.typeName)")
                }
            }
            guard case .string(let typeName)? = item["type"] else { throw Problem.invalidField("\(at).type", "is required: interval, daily, weekly or startup") }
            guard let kind = ScheduleTrigger.Kind(rawValue: typeName) else {
                throw Problem.invalidField("\(at).type", "must be interval, daily, weekly or startup")
            }
            let interval = try int("interval_ms", 1_000...31_622_400_000)
            let timeOfDay = try int("time_of_day_ms", 0...86_399_999)
            let maxRuntime = try int("max_runtime_ms", 1_000...Int64(Limits.lockAtMost.upperBound))
            var day: DayOfWeek?
            switch item["day_of_week"] {
            case nil, .null?: day = nil
            case .string(let s)?:
                guard let d = DayOfWeek(rawValue: s) else {
                    throw Problem.invalidField("\(at).day_of_week", "must be one of \(DayOfWeek.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                day = d
            case let other?: throw Problem.invalidField("\(at).day_of_week", "expected string, got \(other.typeName)")
            }
            // Each kind takes exactly its own fields, so a typo'd schedule is a 400, not a task that never runs.
            let needs: [String: Bool] = [
                "interval_ms": kind == .interval, "time_of_day_ms": kind == .daily || kind == .weekly, "day_of_week": kind == .weekly,
            ]
            let has: [String: Bool] = ["interval_ms": interval != nil, "time_of_day_ms": timeOfDay != nil, "day_of_week": day != nil]
            for field in ["interval_ms", "time_of_day_ms", "day_of_week"] {
                if needs[field]! && !has[field]! { throw Problem.invalidField("\(at).\(field)", "is required for a \(kind.rawValue) trigger") }
                if !needs[field]! && has[field]! { throw Problem.invalidField("\(at).\(field)", "does not apply to a \(kind.rawValue) trigger") }
            }
            out.append(ScheduleTrigger(kind: kind, intervalMs: interval, timeOfDayMs: timeOfDay, dayOfWeek: day, maxRuntimeMs: maxRuntime))
        }
        return out
    }

    static let notConfigured = Problem.unavailable("PostgreSQL", retryAfterMs: 5_000, detail: "this batond has no schedule store")
        .response

    private func answerSchedules<V>(_ outcome: DurableRead<V>, _ render: (V) -> JSONValue) -> HTTPResponse {
        switch outcome {
        case .ok(let v):
            return .json(200, render(v))
        case .unavailable(let error?, let retryAfterMs):
            return Problem.unavailable("PostgreSQL", retryAfterMs: retryAfterMs,
                                       detail: "PostgreSQL did not answer (\(error.kind.rawValue)); schedules are unavailable, nothing was saved").response
        case .unavailable(nil, let retryAfterMs):
            return Problem.unavailable("PostgreSQL", retryAfterMs: retryAfterMs,
                                       detail: "PostgreSQL is unreachable (circuit breaker open); schedules are unavailable, nothing was saved").response
        }
    }
}

extension ScheduleTrigger {
    var json: JSONValue {
        .object([
            ("type", .string(kind.rawValue)),
            ("interval_ms", .int(intervalMs)),
            ("time_of_day_ms", .int(timeOfDayMs)),
            ("day_of_week", .string(dayOfWeek?.rawValue)),
            ("max_runtime_ms", .int(maxRuntimeMs)),
        ])
    }
}

extension Schedule {
    var json: JSONValue {
        .object([
            ("task", .string(task.value)),
            ("triggers", .array(triggers.map(\.json))),
            ("revision", .int(revision)),
            ("first_saved_at", .string(Timestamp.rfc3339(ms: firstSavedAtMs))),
            ("saved_at", .string(Timestamp.rfc3339(ms: savedAtMs))),
            ("saved_by", .string(savedBy.value)),
            ("note", .string(note)),
        ])
    }
}
