import BatonCore
import BatonHTTP
import BatonSupport

/// `/leader`, `/leases`, `/lease/renew`, `/lease/release`, `/leases/{lease}/history`.
package struct LeaderRoutes {
    let services: Services

    // The fields each body may have, built once rather than on every request.
    package static let acquireFields: Set<String> = ["lease", "holder", "ttl_ms", "on_backend_failure"]
    package static let renewFields: Set<String> = ["lease", "holder", "ttl_ms", "fencing_token", "on_backend_failure"]
    package static let releaseFields: Set<String> = ["lease", "holder", "fencing_token", "on_backend_failure"]
    /// Every body field set of these routes (for the fuzz harness).
    package static var bodyFields: [Set<String>] { [acquireFields, renewFields, releaseFields] }

    func register(_ r: inout Router) {
        r.add("POST", "/leader") { req, _ in handle { () throws(Problem) in try acquire(req) } }
        r.add("GET", "/leader") { req, _ in handle { () throws(Problem) in try state(req) } }
        r.add("GET", "/leases") { req, _ in handle { () throws(Problem) in try all(req) } }
        r.add("POST", "/lease/renew") { req, _ in handle { () throws(Problem) in try renew(req) } }
        r.add("POST", "/lease/release") { req, _ in handle { () throws(Problem) in try release(req) } }
        r.add("GET", "/leases/{lease}/history") { req, p in handle { () throws(Problem) in try history(req, p) } }
    }

    private func acquire(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.acquireFields)
        let lease = try body.lease(), holder = try body.holder()
        let ttl = try body.int("ttl_ms", in: Limits.leaseTTL) ?? services.defaults.leaseTTLMs
        let policy = try body.policy()
        // Through the Redis pipeline when other requests are in flight: the worker goes on
        // with them, and the reply answers this one from the pipeline's reader thread
        // (RedisPipeline). Alone, there is nothing to share a write with, and the hand-over
        // to the reader and back would only add to the request: one keep-alive client
        // measured 61,342 instructions and 14.2 system calls per request through the
        // pipeline, 48,154 and 5.0 without (bench/README.md).
        guard services.election.answersLater, req.concurrency > 1 else {
            return answer(services.election.acquire(lease, holder: holder, ttlMs: ttl, policy: policy), encoded: \.encodedJSON)
        }
        let later = DeferredResponse(countsWhenAnswered: true)
        services.election.acquire(lease, holder: holder, ttlMs: ttl, policy: policy) { decision in
            later.fulfill(answer(decision, encoded: \.encodedJSON))
        }
        return .deferred(later)
    }

    private func state(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        guard let raw = req.queryValue("lease") else { throw Problem.invalidField("lease", "query parameter is required") }
        guard let lease = LeaseName(raw) else { throw Problem.invalidField("lease", "must match \(NameRule.resource.pattern)") }
        var caller: Holder?
        if let h = req.queryValue("holder") {
            guard let holder = Holder(h) else { throw Problem.invalidField("holder", "must match \(NameRule.holder.pattern)") }
            caller = holder
        }
        var renewals = false
        if let r = req.queryValue("renewals") {
            guard r == "true" || r == "false" else { throw Problem.invalidField("renewals", "must be true or false") }
            renewals = r == "true"
        }
        let services = self.services, asker = caller, counted = renewals
        return try blockingRead(req, services, key: .lease(lease), view: (renewals ? "r|" : "") + (asker?.value ?? "")) {
            // The index first: a change after it shows in the state, and the next read with
            // this index answers at once (never the other way round, which would miss it).
            let index = services.leaseIndex(lease, renewals: counted)
            let decision = services.election.state(lease, caller: asker)
            var value: JSONValue? = nil, expires: Int? = nil
            if case .ok(let v) = decision { value = v.json; expires = v.expiresInMs }
            return WatchAnswer(index: index, response: stamped(answer(decision) { $0.json }, index: index, value: value), expiresInMs: expires)
        }
    }

    /// `GET /leases`; its index is the sum of the listed leases' indexes.
    private func all(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let services = self.services
        return try blockingRead(req, services, key: .leases, view: "") {
            var index: Int64? = 0
            var soonest: Int? = nil
            // Only the read below counts for the breaker, as in a plain GET /leases.
            if case .ok(let before) = CircuitBreaker.uncounted({ services.election.all() }) {
                for v in before {
                    guard let i = services.leaseIndex(v.lease) else { index = nil; break }
                    index = index.map { $0 &+ i }
                }
            } else {
                index = nil
            }
            let decision = services.election.all()
            var value: JSONValue? = nil
            let render: ([LeaseView]) -> JSONValue = { .object([("leases", .array($0.map(\.json)))]) }
            if case .ok(let views) = decision {
                value = render(views)
                soonest = views.compactMap(\.expiresInMs).min()
            }
            return WatchAnswer(index: index, response: stamped(answer(decision, render), index: index, value: value), expiresInMs: soonest)
        }
    }

    private func renew(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.renewFields)
        let lease = try body.lease(), holder = try body.holder()
        let ttl = try body.int("ttl_ms", in: Limits.leaseTTL) ?? services.defaults.leaseTTLMs
        let decision = services.election.renew(lease, holder: holder, ttlMs: ttl, fencingToken: try body.fencingToken(), policy: try body.policy())
        return answer(decision, encoded: \.encodedJSON)
    }

    private func release(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.releaseFields)
        let lease = try body.lease(), holder = try body.holder()
        let decision = services.election.release(lease, holder: holder, fencingToken: try body.fencingToken(), policy: try body.policy())
        return answer(decision) { $0.json }
    }

    private func history(_ req: HTTPRequest, _ p: RouteParameters) throws(Problem) -> HTTPResponse {
        guard let lease = p["lease"].flatMap(LeaseName.init) else { throw Problem.invalidField("lease", "must match \(NameRule.resource.pattern)") }
        let limit = try req.queryLimit()
        return answerHistory(services.historyService.tenures(of: lease, limit: limit)) {
            .object([("lease", .string(lease.value)), ("tenures", .array($0.map(\.json)))])
        }
    }
}
