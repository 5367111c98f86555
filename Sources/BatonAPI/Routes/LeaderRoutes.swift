import BatonCore
import BatonHTTP

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
        r.add("GET", "/leases") { _, _ in answer(services.election.all()) { .object([("leases", .array($0.map(\.json)))]) } }
        r.add("POST", "/lease/renew") { req, _ in handle { () throws(Problem) in try renew(req) } }
        r.add("POST", "/lease/release") { req, _ in handle { () throws(Problem) in try release(req) } }
        r.add("GET", "/leases/{lease}/history") { req, p in handle { () throws(Problem) in try history(req, p) } }
    }

    private func acquire(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.acquireFields)
        let lease = try body.lease(), holder = try body.holder()
        let ttl = try body.int("ttl_ms", in: Limits.leaseTTL) ?? services.defaults.leaseTTLMs
        return answer(services.election.acquire(lease, holder: holder, ttlMs: ttl, policy: try body.policy())) { $0.json }
    }

    private func state(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        guard let raw = req.queryValue("lease") else { throw Problem.invalidField("lease", "query parameter is required") }
        guard let lease = LeaseName(raw) else { throw Problem.invalidField("lease", "must match \(NameRule.resource.pattern)") }
        var caller: Holder?
        if let h = req.queryValue("holder") {
            guard let holder = Holder(h) else { throw Problem.invalidField("holder", "must match \(NameRule.holder.pattern)") }
            caller = holder
        }
        return answer(services.election.state(lease, caller: caller)) { $0.json }
    }

    private func renew(_ req: HTTPRequest) throws(Problem) -> HTTPResponse {
        let body = try BodyReader(req.body, allowed: Self.renewFields)
        let lease = try body.lease(), holder = try body.holder()
        let ttl = try body.int("ttl_ms", in: Limits.leaseTTL) ?? services.defaults.leaseTTLMs
        let decision = services.election.renew(lease, holder: holder, ttlMs: ttl, fencingToken: try body.fencingToken(), policy: try body.policy())
        return answer(decision) { $0.json }
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
        let outcome = services.postgresBreaker.run { () throws(BackendError) in try services.history.tenures(of: lease, limit: limit) }
        return answerHistory(outcome, services.postgresBreaker) {
            .object([("lease", .string(lease.value)), ("tenures", .array($0.map(\.json)))])
        }
    }
}
