import Foundation

extension Components.Responses.NotFound: HasProblem {
    var problem: Schemas.Problem? { try? body.application_problem_plus_json }
}

/// `/schedules` and external runs (POST /tasks/{task}/runs).
extension BatonClient {
    func schedules() async throws -> [Schemas.Schedule] {
        try await call {
            switch try await client.listSchedules() {
            case .ok(let r): return try r.body.json.schedules
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    /// The task's schedule, nil when none was saved.
    func schedule(task: String) async throws -> Schemas.Schedule? {
        try await call {
            switch try await client.getSchedule(path: .init(task: task)) {
            case .ok(let r): return try r.body.json
            case .notFound: return nil
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func saveSchedule(task: String, holder: String, triggers: [Schemas.ScheduleTriggerInput], note: String?) async throws -> Schemas.SavedSchedule {
        try await call {
            switch try await client.saveSchedule(path: .init(task: task), body: .json(.init(holder: holder, triggers: triggers, note: note))) {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func recordExternalRun(task: String, holder: String, status: Schemas.CompletionStatus, startedAtMs: Int64,
                           finishedAtMs: Int64, detail: String?) async throws -> Schemas.ExternalRun {
        try await call {
            let body = Schemas.ExternalRunRequest(holder: holder, status: status, started_at_ms: startedAtMs,
                                                  finished_at_ms: finishedAtMs, detail: detail)
            switch try await client.recordExternalRun(path: .init(task: task), body: .json(body)) {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }
}
