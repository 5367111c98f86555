import BatonCore
import BatonHTTP
import BatonSupport

/// `GET /events?lease=L&task=T…`: Server-Sent Events (see ``EventBus``).
struct EventRoutes {
    let services: Services
    static let maxResources = 64

    func register(_ r: inout Router) {
        r.add("GET", "/events") { req, _ in handle { () throws(Problem) in try events(req) } }
    }

    private func events(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        var keys: [(WatchKey, EventBus.Evaluate)] = []
        var seen: Set<WatchKey> = []
        let services = self.services
        for (name, value) in req.query {
            switch name {
            case "lease":
                guard let lease = LeaseName(value) else { throw Problem.invalidField("lease", "must match \(NameRule.resource.pattern)") }
                if seen.insert(.lease(lease)).inserted { keys.append((.lease(lease), { Self.leaseState(services, lease) })) }
            case "task":
                guard let task = TaskName(value) else { throw Problem.invalidField("task", "must match \(NameRule.resource.pattern)") }
                if seen.insert(.task(task)).inserted { keys.append((.task(task), { Self.taskState(services, task) })) }
            default:
                continue
            }
        }
        guard !keys.isEmpty else { throw Problem.invalidField("lease", "name at least one lease= or task= to watch") }
        guard keys.count <= Self.maxResources else { throw Problem.invalidField("lease", "at most \(Self.maxResources) leases and tasks per stream") }
        var last: UInt64? = nil
        if let raw = req.header("last-event-id"), !raw.isEmpty {
            guard let id = UInt64(raw) else { throw Problem.invalidField("Last-Event-ID", "must be an event id this server sent (an integer)") }
            last = id
        }
        guard let bus = services.watching?.events else {
            return Problem.unavailable("event stream", retryAfterMs: 5_000, detail: "event streams are not enabled on this batond").response
        }
        switch bus.open(keys, lastEventId: last) {
        case .stream(let stream):
            return .stream(stream, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")])
        case .full:
            return Problem(status: 503, code: "too_many_watchers", title: "Too many event streams",
                           detail: "this replica serves \(bus.limit) event streams already (BATON_EVENT_STREAM_LIMIT); retry later or on another replica",
                           headers: [("Retry-After", "5")]).response
        case .tooManyKeys:
            return Problem(status: 503, code: "too_many_watchers", title: "Too many watched resources",
                           detail: "event streams on this replica watch \(bus.maxKeys) leases and tasks already", headers: [("Retry-After", "5")]).response
        }
    }

    static func leaseState(_ services: Services, _ lease: LeaseName) -> EventState? {
        let index = services.leaseIndex(lease)
        guard case .ok(let v) = services.election.state(lease) else { return nil }
        var pairs: [(String, JSONValue)] = []
        if case .object(let p) = v.json { pairs = p }
        if let index { pairs.append(("index", .int(index))) }
        let fingerprint = "\(v.holder?.value ?? "")|\(v.fencingToken.map { String($0.value) } ?? "")"
        return EventState(event: v.holder == nil ? "lease_vacant" : "leader_changed", data: .object(pairs),
                          fingerprint: fingerprint, expiresInMs: v.expiresInMs)
    }

    static func taskState(_ services: Services, _ task: TaskName) -> EventState? {
        let index = services.taskIndex(task)
        guard case .ok(let claim) = services.tasks.current(task) else { return nil }
        var pairs: [(String, JSONValue)] = [("task", .string(task.value))]
        pairs.append(("claim", claim.map { ClaimView(task: task, claimed: true, claim: $0).json } ?? .null))
        if let index { pairs.append(("index", .int(index))) }
        let event: String
        switch claim?.state {
        case .running: event = "claimed"
        case .completed: event = "completed"
        case nil: event = "claim_ended"
        }
        let fingerprint = "\(claim?.runId ?? "")|\(claim?.state.rawValue ?? "")"
        return EventState(event: event, data: .object(pairs), fingerprint: fingerprint, expiresInMs: claim?.expiresInMs)
    }
}
