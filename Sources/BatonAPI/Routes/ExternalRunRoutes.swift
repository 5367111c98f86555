import BatonCore
import BatonHTTP
import BatonSupport

/// `POST /tasks/{task}/runs`: records a run that happened without a claim (Jellyfin ran
/// the task by itself: the dashboard's Run button, a library change), so the history, and
/// the Interval schedules computed from it, see every run.
struct ExternalRunRoutes {
    let services: Services

    private static let fields: Set<String> = ["holder", "status", "started_at_ms", "finished_at_ms", "detail"]
    /// From 2001 to 2200, in Unix milliseconds: anything else is a unit mistake.
    static let instants: ClosedRange<Int> = 978_307_200_000...7_258_118_400_000

    func register(_ r: inout Router) {
        r.add("POST", "/tasks/{task}/runs") { req, p in handle { () throws(Problem) in try record(req, p) } }
    }

    private func record(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        guard let task = p["task"].flatMap(TaskName.init) else { throw Problem.invalidField("task", "must match \(NameRule.resource.pattern)") }
        let body = try BodyReader(req.body, allowed: Self.fields)
        let holder = try body.holder(), status = try body.runStatus()
        let started = Int64(try body.int("started_at_ms", in: Self.instants, required: true)!)
        let finished = Int64(try body.int("finished_at_ms", in: Self.instants, required: true)!)
        guard finished >= started else { throw Problem.invalidField("finished_at_ms", "must not be before started_at_ms") }
        let detail = try body.string("detail")
        if let d = detail, d.utf8.count > Limits.detailBytes {
            throw Problem.invalidField("detail", "must be at most \(Limits.detailBytes) bytes")
        }
        // The same report sent twice (a retry, a restarted reporter) is the same row.
        let runId = Self.runId(task: task, holder: holder, startedAtMs: started)
        // Through the coordinator's recorder, as claimed runs go: the run metrics see it
        // (the failed-run and slot alerts), then the outbox.
        services.tasks.history.record(.run(RunRecord(runId: runId, task: task, slot: nil, holder: holder, fencingToken: nil,
                                              claimedAtMs: started, lockAtMostMs: 0, finishedAtMs: finished, status: status,
                                              detail: detail, mode: .normal, external: true)))
        return .json(200, .object([
            ("task", .string(task.value)), ("run_id", .string(runId)), ("holder", .string(holder.value)),
            ("status", .string(status.rawValue)), ("recorded", .bool(true)), ("external", .bool(true)),
        ]))
    }

    /// A UUID (version 8, RFC 9562) from SHA-256 of the run's identity.
    static func runId(task: TaskName, holder: Holder, startedAtMs: Int64) -> String {
        var b = Array(SHA256.hash(Array("external\n\(task.value)\n\(holder.value)\n\(startedAtMs)".utf8)).bytes.prefix(16))
        b[6] = (b[6] & 0x0f) | 0x80
        b[8] = (b[8] & 0x3f) | 0x80
        let hex = b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}
