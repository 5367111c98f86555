import BatonCore
import BatonHTTP

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
        r.add("GET", "/tasks") { _, _ in list() }
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

    /// Every task known to Redis or to history, with its claim and last run. History is
    /// optional here: without PostgreSQL the claims still show (`history_available: false`).
    private func list() -> HTTPResponse {
        let claims: [(TaskName, TaskClaim?)]
        switch services.tasks.all() {
        case .ok(let list), .conflict(let list), .recovering(let list, _): claims = list
        case .unavailable(let error, let retry): return redisUnavailable(error, retry).response
        }
        let lastRuns: [TaskName: RunRecord]?
        if case .success(let runs) = services.postgresBreaker.run({ () throws(BackendError) in try services.history.lastRuns() }) {
            lastRuns = runs
        } else {
            lastRuns = nil
        }
        var byName: [TaskName: TaskClaim?] = [:]
        for (t, c) in claims { byName[t] = c }
        for t in lastRuns?.keys ?? [:].keys where byName[t] == nil { byName[t] = .some(nil) }
        let items: [JSONValue] = byName.keys.sorted { $0.value < $1.value }.map { t in
            let claim = byName[t] ?? nil
            return .object([
                ("task", .string(t.value)),
                ("claim", claim.map { ClaimView(task: t, claimed: true, claim: $0).json } ?? .null),
                ("last_run", lastRuns?[t]?.json ?? .null),
            ])
        }
        return .json(200, .object([("tasks", .array(items)), ("history_available", .bool(lastRuns != nil))]))
    }

    private func runs(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        guard let task = p["task"].flatMap(TaskName.init) else { throw Problem.invalidField("task", "must match \(NameRule.resource.pattern)") }
        let limit = try req.queryLimit()
        let outcome = services.postgresBreaker.run { () throws(BackendError) in try services.history.runs(of: task, limit: limit) }
        return answerHistory(outcome, services.postgresBreaker) {
            .object([("task", .string(task.value)), ("runs", .array($0.map(\.json)))])
        }
    }
}
