import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import BatonSupport
import HTTPTypes
import OpenAPIRuntime
import OpenAPIURLSession
import Synchronization

typealias Schemas = Components.Schemas

/// Why a call to Baton did not give an answer.
enum BatonError: Error, CustomStringConvertible {
    /// Baton could not be reached or could not answer: connect error, timeout, 5xx.
    /// These count for the client-side breaker.
    case unavailable(String)
    /// Baton answered, but refused the request (400, 401, 404, 413) or answered
    /// something batonctl does not understand.
    case rejected(status: Int, detail: String)
    /// A 409 whose body batonctl could not read (a `reason` newer than its copy of the
    /// contract, say): Baton said no, so it is handled like any other 409.
    case conflict(String)

    var description: String {
        switch self {
        case .conflict(let why): return "Baton said no (HTTP 409): \(why)"
        case .unavailable(let why): return "Baton unavailable: \(why)"
        case .rejected(let status, let detail): return "Baton refused the request (HTTP \(status)): \(detail)"
        }
    }

    var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}

/// The answer to a coordination call: 200 or 409, both with a body.
enum Answer<T: Sendable>: Sendable {
    case ok(T)
    case conflict(T)
}

/// Adds `Authorization: Bearer` to every request.
struct BearerMiddleware: ClientMiddleware {
    let token: String?

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if let token {
            request.headerFields[.authorization] = "Bearer \(token)"
        }
        request.headerFields[.userAgent] = "batonctl/\(BatonVersion.current)"
        return try await next(request, body, baseURL)
    }
}

/// Keeps the body of every JSON answer, by operation, so `--json` can print what Baton
/// said exactly (the generated types leave `null` values out when encoding again).
final class BodyRecorder: ClientMiddleware, Sendable {
    private let bodies = Mutex<[String: Data]>([:])

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard let responseBody else { return (response, nil) }
        let data = try await Data(collecting: responseBody, upTo: 16 * 1024 * 1024)
        store(data, for: operationID)
        return (response, HTTPBody(data))
    }

    private func store(_ data: Data, for operationID: String) {
        bodies.withLock { $0[operationID] = data }
    }

    func body(of operationID: String) -> Data? {
        bodies.withLock { $0[operationID] }
    }
}

protocol HasProblem {
    var problem: Schemas.Problem? { get }
}

extension Components.Responses.BadRequest: HasProblem {
    var problem: Schemas.Problem? { try? body.application_problem_plus_json }
}
extension Components.Responses.Unauthorized: HasProblem {
    var problem: Schemas.Problem? { try? body.application_problem_plus_json }
}
extension Components.Responses.PayloadTooLarge: HasProblem {
    var problem: Schemas.Problem? { try? body.application_problem_plus_json }
}
extension Components.Responses.ServiceUnavailable: HasProblem {
    var problem: Schemas.Problem? { try? body.application_problem_plus_json }
}

/// batonctl's view of Baton: the generated client, with every answer sorted into
/// `ok`, `conflict`, `BatonError.unavailable` or `BatonError.rejected`.
struct BatonClient: Sendable {
    let client: Client
    let baseURL: String
    let recorder = BodyRecorder()

    init(baseURL: String, token: String?, timeout: Double) throws {
        let configuration = URLSessionConfiguration.ephemeral
        // FoundationNetworking on Linux truncates timeouts to whole seconds (0.5 s would
        // time out at once): round up.
        let seconds = max(1, timeout.rounded(.up))
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        configuration.httpMaximumConnectionsPerHost = 2
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration)
        try self.init(baseURL: baseURL, token: token,
                      transport: URLSessionTransport(configuration: .init(session: session)))
    }

    /// A client over any transport (the tests use a canned one).
    init(baseURL: String, token: String?, transport: any ClientTransport) throws {
        guard let url = URL(string: baseURL) else {
            throw BatonError.rejected(status: 0, detail: "not a URL: \(baseURL)")
        }
        self.baseURL = baseURL
        self.client = Client(
            serverURL: url,
            configuration: Configuration(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: transport,
            middlewares: [BearerMiddleware(token: token), recorder])
    }

    /// The last answer to `operationID` as parsed JSON (keeps `null`s), if there was one.
    func rawJSON(_ operationID: String) -> Any? {
        guard let data = recorder.body(of: operationID) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    /// Prints the last answer to `operationID` as Baton sent it (pretty, sorted keys).
    func printRawJSON(_ operationID: String) throws {
        guard let object = rawJSON(operationID) else {
            throw BatonError.rejected(status: 0, detail: "no answer to print")
        }
        try JSON.printObject(object)
    }

    // MARK: error mapping

    static func problemText(_ problem: Schemas.Problem?, status: Int) -> String {
        guard let problem else { return "HTTP \(status)" }
        return problem.detail.isEmpty ? problem.title : problem.detail
    }

    static func unavailable(_ response: some HasProblem) -> BatonError {
        .unavailable("HTTP 503: " + problemText(response.problem, status: 503))
    }

    static func rejected(_ status: Int, _ response: some HasProblem) -> BatonError {
        var text = problemText(response.problem, status: status)
        if status == 401 { text += " (check --token / BATON_TOKEN)" }
        return .rejected(status: status, detail: text)
    }

    static func undocumented(_ status: Int) -> BatonError {
        status >= 500 ? .unavailable("HTTP \(status)") : .rejected(status: status, detail: "unexpected HTTP \(status)")
    }

    /// Runs one call and sorts transport failures: no response at all (connect error,
    /// timeout, reset) or a 5xx whose body could not be decoded is `unavailable`; a
    /// response batonctl cannot decode otherwise is `rejected`.
    func call<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as BatonError {
            throw error
        } catch let error as ClientError {
            if let response = error.response {
                let status = response.status.code
                if status >= 500 {
                    throw BatonError.unavailable("HTTP \(status)")
                }
                if status == 409 {
                    throw BatonError.conflict(conflictSummary(error.operationID))
                }
                throw BatonError.rejected(status: status, detail: "could not read the answer: \(Self.describe(error.underlyingError))")
            }
            throw BatonError.unavailable(Self.describe(error.underlyingError))
        } catch is CancellationError {
            throw BatonError.unavailable("cancelled")
        } catch {
            throw BatonError.unavailable(Self.describe(error))
        }
    }

    /// "reason recovering, holder jellyfin-1" from the raw body of an unreadable 409.
    func conflictSummary(_ operationID: String) -> String {
        guard let object = rawJSON(operationID) as? [String: Any] else { return "unreadable answer" }
        var parts: [String] = []
        for key in ["reason", "holder", "detail"] {
            if let value = object[key] as? String { parts.append("\(key) \(value)") }
        }
        return parts.isEmpty ? "unreadable answer" : parts.joined(separator: ", ")
    }

    static func describe(_ error: any Error) -> String {
        if let urlError = error as? URLError {
            switch urlError.code {
            case .timedOut: return "timed out"
            case .cannotConnectToHost: return "connection refused"
            case .cannotFindHost: return "host not found"
            case .networkConnectionLost: return "connection lost"
            case .notConnectedToInternet: return "network unreachable"
            default: return urlError.localizedDescription
            }
        }
        if let clientError = error as? ClientError {
            return describe(clientError.underlyingError)
        }
        if let decoding = error as? DecodingError {
            switch decoding {
            case .keyNotFound(let key, let context):
                return "missing key '\(key.stringValue)' at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            @unknown default:
                return "\(decoding)"
            }
        }
        return String(describing: error)
    }

    // MARK: leadership

    func acquire(lease: String, holder: String, ttlMs: Int?) async throws -> Answer<Schemas.LeaseState> {
        try await call {
            let out = try await client.acquireLeadership(body: .json(.init(lease: lease, holder: holder, ttl_ms: ttlMs)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func renew(lease: String, holder: String, ttlMs: Int?, fencingToken: Int64?) async throws -> Answer<Schemas.LeaseState> {
        try await call {
            let out = try await client.renewLease(body: .json(.init(
                lease: lease, holder: holder, ttl_ms: ttlMs, fencing_token: fencingToken)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func release(lease: String, holder: String, fencingToken: Int64?) async throws -> Answer<Schemas.ReleaseResult> {
        try await call {
            let out = try await client.releaseLease(body: .json(.init(
                lease: lease, holder: holder, fencing_token: fencingToken)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func leader(lease: String) async throws -> Schemas.LeaseState {
        try await call {
            switch try await client.getLeader(query: .init(lease: lease)) {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func leases() async throws -> Schemas.LeaseList {
        try await call {
            switch try await client.listLeases() {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func leaseHistory(lease: String, limit: Int?) async throws -> Schemas.TenureHistory {
        try await call {
            switch try await client.listLeaseHistory(path: .init(lease: lease), query: .init(limit: limit)) {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    // MARK: tasks

    func claim(task: String, holder: String, slot: String?, atMostMs: Int?, atLeastMs: Int?) async throws -> Answer<Schemas.ClaimState> {
        try await call {
            let out = try await client.claimTask(body: .json(.init(
                task: task, holder: holder, slot: slot, lock_at_most_ms: atMostMs, lock_at_least_ms: atLeastMs)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func extend(task: String, runId: String, holder: String, atMostMs: Int?) async throws -> Answer<Schemas.ClaimState> {
        try await call {
            let out = try await client.extendTaskClaim(body: .json(.init(
                task: task, run_id: runId, holder: holder, lock_at_most_ms: atMostMs)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func complete(task: String, runId: String, holder: String, status: Schemas.CompletionStatus,
                  detail: String?) async throws -> Answer<Schemas.Completion> {
        try await call {
            let out = try await client.completeTask(body: .json(.init(
                task: task, run_id: runId, holder: holder, status: status, detail: detail)))
            switch out {
            case .ok(let r): return .ok(try r.body.json)
            case .conflict(let r): return .conflict(try r.body.json)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .contentTooLarge(let r): throw Self.rejected(413, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func tasks() async throws -> Schemas.TaskList {
        try await call {
            switch try await client.listTasks() {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    func runs(task: String, limit: Int?) async throws -> Schemas.RunHistory {
        try await call {
            switch try await client.listTaskRuns(path: .init(task: task), query: .init(limit: limit)) {
            case .ok(let r): return try r.body.json
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    // MARK: operations

    func status() async throws -> Schemas.Status {
        try await call {
            switch try await client.getStatus() {
            case .ok(let r): return try r.body.json
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }

    /// GET /healthz: true only for 200.
    func health() async throws -> Schemas.Health {
        try await call {
            switch try await client.getHealth() {
            case .ok(let r): return try r.body.json
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }
}
