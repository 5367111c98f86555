import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import OpenAPIRuntime
import Testing
@testable import batonctl

/// Answers every request with a canned status and body, and remembers the request.
final class CannedTransport: ClientTransport, @unchecked Sendable {
    let status: Int
    let body: String
    let headers: HTTPFields
    let error: (any Error)?
    private let lock = NSLock()
    private var _requests: [(HTTPRequest, String)] = []

    init(status: Int = 200, body: String = "", contentType: String = "application/json", error: (any Error)? = nil,
         extraHeaders: [HTTPField.Name: String] = [:]) {
        self.status = status
        self.body = body
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[HTTPField.Name("X-Request-Id")!] = "test-request"
        for (k, v) in extraHeaders { headers[k] = v }
        self.headers = headers
        self.error = error
    }

    var requests: [(HTTPRequest, String)] {
        lock.lock()
        defer { lock.unlock() }
        return _requests
    }

    private func remember(_ request: HTTPRequest, _ body: String) {
        lock.lock()
        _requests.append((request, body))
        lock.unlock()
    }

    func send(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String) async throws -> (HTTPResponse, HTTPBody?) {
        var text = ""
        if let body { text = try await String(collecting: body, upTo: 1 << 20) }
        remember(request, text)
        if let error { throw error }
        return (HTTPResponse(status: .init(code: status), headerFields: headers), HTTPBody([UInt8](self.body.utf8)))
    }
}

let leaseJSON = """
{"lease":"jellyfin-scheduler","holder":"jellyfin-0","leader":true,"acquired":true,"fencing_token":42,"ttl_ms":30000,\
"expires_in_ms":30000,"acquired_at":"2026-11-27T01:02:03.123Z","mode":"normal"}
"""

@Suite struct BatonClientTests {
    func client(_ transport: CannedTransport, token: String? = "secret-token") throws -> BatonClient {
        try BatonClient(baseURL: "http://baton:8080", token: token, transport: transport)
    }

    @Test func acquireSendsTheBodyAndTheToken() async throws {
        let transport = CannedTransport(body: leaseJSON)
        let answer = try await client(transport).acquire(lease: "jellyfin-scheduler", holder: "jellyfin-0", ttlMs: 15_000)
        guard case .ok(let state) = answer else { Issue.record("expected ok"); return }
        #expect(state.fencing_token == 42)
        // Milliseconds survive (the client uses .iso8601WithFractionalSeconds).
        #expect(abs((state.acquired_at?.timeIntervalSince1970 ?? 0) - 1_795_741_323.123) < 0.0005)
        let (request, body) = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.path == "/leader")
        #expect(request.headerFields[.authorization] == "Bearer secret-token")
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(sent["lease"] as? String == "jellyfin-scheduler")
        #expect(sent["holder"] as? String == "jellyfin-0")
        #expect(sent["ttl_ms"] as? Int == 15_000)
        #expect(sent.count == 3)
    }

    @Test func noTokenNoHeader() async throws {
        let transport = CannedTransport(body: #"{"status":"ok"}"#)
        _ = try await client(transport, token: nil).health()
        #expect(transport.requests.first?.0.headerFields[.authorization] == nil)
    }

    @Test func conflictIsAnAnswer() async throws {
        let body = leaseJSON.replacingOccurrences(of: #""leader":true,"acquired":true"#, with: #""leader":false,"acquired":false"#)
            .replacingOccurrences(of: "jellyfin-0", with: "jellyfin-1")
        let answer = try await client(CannedTransport(status: 409, body: body)).acquire(lease: "jellyfin-scheduler", holder: "jellyfin-0", ttlMs: nil)
        guard case .conflict(let state) = answer else { Issue.record("expected conflict"); return }
        #expect(state.holder == "jellyfin-1")
    }

    @Test func claimConflictCarriesTheReason() async throws {
        let body = """
        {"task":"RefreshLibrary","claimed":false,"reason":"slot_done","run_id":null,"holder":null,"slot":null,\
        "fencing_token":null,"claimed_at":null,"lock_at_most_ms":null,"lock_at_least_ms":null,"expires_in_ms":null,\
        "state":null,"mode":"normal"}
        """
        let answer = try await client(CannedTransport(status: 409, body: body))
            .claim(task: "RefreshLibrary", holder: "h", slot: "s", atMostMs: nil, atLeastMs: nil)
        guard case .conflict(let c) = answer else { Issue.record("expected conflict"); return }
        #expect(c.reason == .slot_done)
        #expect(ClaimOptions.explain(c) == "this slot already ran")
    }

    @Test func serviceUnavailableCountsAsUnavailable() async throws {
        let problem = """
        {"type":"https://baton.dev/problems/backend-unavailable","title":"Redis unavailable","status":503,\
        "detail":"Redis breaker is open; policy deny","code":"backend_unavailable"}
        """
        let transport = CannedTransport(status: 503, body: problem, contentType: "application/problem+json",
                                        extraHeaders: [HTTPField.Name("Retry-After")!: "5"])
        await #expect {
            _ = try await client(transport).acquire(lease: "l", holder: "h", ttlMs: nil)
        } throws: { error in
            guard case BatonError.unavailable(let why) = error else { return false }
            return why.contains("Redis breaker is open")
        }
    }

    @Test(arguments: [500, 502, 504])
    func fiveHundredsCountAsUnavailable(status: Int) async throws {
        await #expect {
            _ = try await client(CannedTransport(status: status, body: "oops", contentType: "text/plain")).leader(lease: "l")
        } throws: { error in
            (error as? BatonError)?.isUnavailable == true
        }
    }

    @Test func transportErrorsCountAsUnavailable() async throws {
        let transport = CannedTransport(error: URLError(.cannotConnectToHost))
        await #expect {
            _ = try await client(transport).claim(task: "t", holder: "h", slot: nil, atMostMs: nil, atLeastMs: nil)
        } throws: { error in
            guard case BatonError.unavailable(let why) = error else { return false }
            return why == "connection refused"
        }
    }

    @Test func unauthorizedIsRejected() async throws {
        let problem = #"{"type":"https://baton.dev/problems/unauthorized","title":"Unauthorized","status":401,"detail":"missing bearer token","code":"unauthorized"}"#
        let transport = CannedTransport(status: 401, body: problem, contentType: "application/problem+json",
                                        extraHeaders: [.wwwAuthenticate: #"Bearer realm="baton""#])
        await #expect {
            _ = try await client(transport).status()
        } throws: { error in
            guard case BatonError.rejected(let status, let detail) = error else { return false }
            return status == 401 && detail.contains("missing bearer token") && detail.contains("BATON_TOKEN")
        }
    }

    @Test func garbageIsRejectedNotUnavailable() async throws {
        await #expect {
            _ = try await client(CannedTransport(status: 200, body: #"{"nope":1}"#)).leader(lease: "l")
        } throws: { error in
            guard case BatonError.rejected = error else { return false }
            return true
        }
    }

    @Test func rawJSONKeepsNulls() async throws {
        let body = """
        {"lease":"l","holder":null,"leader":false,"acquired":false,"fencing_token":null,"ttl_ms":null,\
        "expires_in_ms":null,"acquired_at":null,"mode":"normal"}
        """
        let c = try client(CannedTransport(body: body))
        let state = try await c.leader(lease: "l")
        #expect(state.holder == nil)
        let raw = try #require(c.rawJSON("getLeader") as? [String: Any])
        #expect(raw["holder"] is NSNull)
        #expect(raw.count == 9)
    }

    @Test func completionLateIsAConflict() async throws {
        let body = """
        {"task":"t","run_id":"0b8f5a8e-6c1d-4d0e-9a43-2f6c1e7b9d10","status":"succeeded","recorded":true,"late":true,\
        "mode":"normal","current":null}
        """
        let answer = try await client(CannedTransport(status: 409, body: body))
            .complete(task: "t", runId: "0b8f5a8e-6c1d-4d0e-9a43-2f6c1e7b9d10", holder: "h", status: .succeeded, detail: "exit code 0")
        guard case .conflict(let c) = answer else { Issue.record("expected conflict"); return }
        #expect(c.late)
        #expect(c.current == nil)
    }
}

@Suite struct ForwardCompatibilityTests {
    @Test func aConflictWithAnUnknownReasonIsStillAConflict() async throws {
        // A `reason` newer than this copy of the contract: the generated type cannot decode
        // it, but Baton said 409, so batonctl must treat it as a refusal (skip), not an error.
        let body = """
        {"task":"t","claimed":false,"reason":"some_future_reason","run_id":null,"holder":null,"slot":null,\
        "fencing_token":null,"claimed_at":null,"lock_at_most_ms":null,"lock_at_least_ms":null,"expires_in_ms":null,\
        "state":null,"mode":"normal"}
        """
        let client = try BatonClient(baseURL: "http://baton:8080", token: nil,
                                     transport: CannedTransport(status: 409, body: body, extraHeaders: [HTTPField.Name("Retry-After")!: "3"]))
        await #expect {
            _ = try await client.claim(task: "t", holder: "h", slot: nil, atMostMs: nil, atLeastMs: nil)
        } throws: { error in
            guard case BatonError.conflict(let why) = error else { return false }
            return why == "reason some_future_reason"
        }
    }

    @Test func unknownKeysAreIgnored() async throws {
        let body = leaseJSON.replacingOccurrences(of: #""mode":"normal""#, with: #""mode":"normal","reason":null,"new_key":1"#)
        let client = try BatonClient(baseURL: "http://baton:8080", token: nil, transport: CannedTransport(body: body))
        guard case .ok(let state) = try await client.acquire(lease: "l", holder: "h", ttlMs: nil) else {
            Issue.record("expected ok")
            return
        }
        #expect(state.fencing_token == 42)
    }
}
