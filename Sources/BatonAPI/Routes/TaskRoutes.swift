import BatonCore
import BatonHTTP
import BatonSupport

/// `/tasks/claim`, `/tasks/extend`, `/tasks/complete`, `/tasks`, `/tasks/{task}/runs`.
package struct TaskRoutes {
    let services: Services

    // The fields each body may have, built once rather than on every request.
    package static let claimFields: Set<String> = ["task", "holder", "slot", "lock_at_most_ms", "lock_at_least_ms", "on_backend_failure"]
    package static let extendFields: Set<String> = ["task", "run_id", "holder", "lock_at_most_ms", "on_backend_failure"]
    package static let completeFields: Set<String> = ["task", "run_id", "holder", "status", "detail", "on_backend_failure"]
    /// Every body field set of these routes (for the fuzz harness).
    package static var bodyFields: [Set<String>] { [claimFields, extendFields, completeFields] }

    func register(_ r: inout Router) {
        r.add("POST", "/tasks/claim") { req, _ in handle { () throws(Problem) in try claim(req) } }
        r.add("POST", "/tasks/extend") { req, _ in handle { () throws(Problem) in try extend(req) } }
        r.add("POST", "/tasks/complete") { req, _ in handle { () throws(Problem) in try complete(req) } }
        r.add("GET", "/tasks") { req, _ in handle { () throws(Problem) in try watchedList(req) } }
        r.add("GET", "/tasks/{task}/runs") { req, p in handle { () throws(Problem) in try runs(req, p) } }
    }

    private func claim(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.claimFields)
        let task = try body.task(), holder = try body.holder(), slot = try body.slot()
        let most = try body.int("lock_at_most_ms", in: Limits.lockAtMost) ?? services.defaults.lockAtMostMs
        let least = try body.int("lock_at_least_ms", in: Limits.lockAtLeast) ?? min(services.defaults.lockAtLeastMs, most)
        guard least <= most else {
            throw Problem.invalidField("lock_at_least_ms", "must not exceed lock_at_most_ms (\(most))")
        }
        let request = ClaimRequest(task: task, holder: holder, slot: slot, lockAtMostMs: most, lockAtLeastMs: least)
        return answer(services.tasks.claim(request, policy: try body.policy())) { $0.json }
    }

    private func extend(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.extendFields)
        let task = try body.task(), runId = try body.runId(), holder = try body.holder()
        let most = try body.int("lock_at_most_ms", in: Limits.lockAtMost) ?? services.defaults.lockAtMostMs
        return answer(services.tasks.extend(task, runId: runId, holder: holder, lockAtMostMs: most, policy: try body.policy())) { $0.json }
    }

    private func complete(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.completeFields)
        let task = try body.task(), runId = try body.runId(), holder = try body.holder(), status = try body.runStatus()
        let detail = try body.string("detail")
        if let d = detail, d.utf8.count > Limits.detailBytes {
            throw Problem.invalidField("detail", "must be at most \(Limits.detailBytes) bytes")
        }
        let decision = services.tasks.complete(task, runId: runId, holder: holder, status: status, detail: detail, policy: try body.policy())
        return answer(decision) { $0.json }
    }

    /// `GET /tasks`, blocking with `?index=`; its index is the sum of the tasks' indexes in Redis.
    private func watchedList(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let services = self.services, routes = self
        return try blockingRead(req, services, key: .tasks, view: "") {
            var index: Int64? = 0
            var soonest: Int? = nil
            // Only the read in list() counts for the breaker, as in a plain GET /tasks.
            switch CircuitBreaker.uncounted({ services.tasks.all() }) {
            case .ok(let claims), .conflict(let claims), .recovering(let claims, _):
                for (t, c) in claims {
                    guard let i = services.taskIndex(t) else { index = nil; break }
                    index = index.map { $0 &+ i }
                    if let e = c?.expiresInMs { soonest = min(soonest ?? e, e) }
                }
            case .unavailable: index = nil
            }
            let (response, value) = routes.list()
            return WatchAnswer(index: index, response: stamped(response, index: index, value: value), expiresInMs: soonest)
        }
    }

    /// Every task known to Redis or to history, with its claim and last run. History is
    /// optional here: without PostgreSQL the claims still show (`history_available: false`).
    private func list() -> (HTTPResponse, JSONValue?) {
        switch services.tasks.overview(history: services.historyService) {
        case .ok(let overview), .conflict(let overview), .recovering(let overview, _):
            let value = overview.json
            return (.json(200, value), value)
        case .unavailable(let error, let retry): return (redisUnavailable(error, retry).response, nil)
        }
    }

    private func runs(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        guard let task = p["task"].flatMap(TaskName.init) else { throw Problem.invalidField("task", "must match \(NameRule.resource.pattern)") }
        let limit = try req.queryLimit()
        let services = self.services
        // Blocking on the task's index in Redis. A run reaches PostgreSQL after the index moved
        // (the script runs first; on another replica, or through the outbox, later still), so a
        // woken read whose history does not show the claim Redis has yet is not the change:
        // it is read again 50 ms later (WatchAnswer.settled).
        return try blockingRead(req, services, key: .task(task), view: "runs:\(limit)") {
            let index = services.taskIndex(task)
            let claim = CircuitBreaker.uncounted { () -> TaskClaim?? in
                if case .ok(let c) = services.tasks.current(task) { return .some(c) }
                return nil
            }
            let outcome = services.historyService.runs(of: task, limit: limit)
            let render: ([RunRecord]) -> JSONValue = { .object([("task", .string(task.value)), ("runs", .array($0.map(\.json)))]) }
            guard case .ok(let runs) = outcome else {
                return WatchAnswer(index: nil, response: answerHistory(outcome, render))
            }
            var settled = true
            if let c = claim ?? nil {
                let row = runs.first { $0.runId == c.runId }
                settled = row != nil && (c.state != .completed || row?.status != .running)
            }
            let value = render(runs)
            return WatchAnswer(index: index, response: stamped(.json(200, value), index: index, value: value),
                               expiresInMs: (claim ?? nil)?.expiresInMs, settled: settled)
        }
    }
}
