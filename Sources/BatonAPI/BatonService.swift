import BatonCore
public import BatonHTTP
import BatonSupport

/// The Baton HTTP API: routing, bearer authentication and per-route metrics around the
/// route handlers. One instance serves every worker thread.
public struct BatonService: HTTPHandler {
    /// Endpoints anyone may call: probes, metrics, the spec, and session validation
    /// (whose credential is the Jellyfin token itself).
    public static let openPaths: Set<String> = ["/healthz", "/readyz", "/metrics", "/openapi.yaml", "/sessions/validate"]

    public let router: Router
    /// Per route (by ``Router/Route/index``): whether it needs the bearer token. Not for
    /// ``openPaths``, nor for the /ui routes, which check their own session cookie.
    let bearerRequired: [Bool]
    let auth: BearerAuth
    let metrics: Metrics

    /// - Parameter ui: who may read the incident page at `/ui` (`BATON_UI`).
    public init(services: Services, auth: BearerAuth, metrics: Metrics, authorizationRules: AuthorizationRules, ui: UIMode = .login) {
        var r = Router()
        LeaderRoutes(services: services).register(&r)
        TaskRoutes(services: services).register(&r)
        ExternalRunRoutes(services: services).register(&r)
        ScheduleRoutes(services: services).register(&r)
        EventRoutes(services: services).register(&r)
        SessionRoutes(services: services, extractor: TokenExtractor(rules: authorizationRules), metrics: metrics).register(&r)
        OpsRoutes(services: services, metrics: metrics).register(&r)
        UIRoutes(services: services, access: UIAccess(mode: ui, tokens: auth.tokens)).register(&r)
        self.router = r
        self.bearerRequired = r.routes.map { !Self.openPaths.contains($0.pattern) && !UIRoutes.paths.contains($0.pattern) }
        self.auth = auth
        self.metrics = metrics
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        // clock_gettime(CLOCK_MONOTONIC) directly: ContinuousClock's Instant and Duration
        // arithmetic cost about 550 instructions per request (callgrind, issue 17).
        let start = MonotonicClock.nanoseconds()
        let (route, response) = route(request)
        if let later = response.deferred, later.countsWhenAnswered {
            let metrics = self.metrics, method = request.method
            later.whenAnswered { answer in
                metrics.observeRequest(route: route, method: method, status: answer.status,
                                       seconds: Double(MonotonicClock.nanoseconds() &- start) / 1e9)
            }
            return response
        }
        let seconds = Double(MonotonicClock.nanoseconds() &- start) / 1e9
        metrics.observeRequest(route: route, method: request.method, status: response.status, seconds: seconds)
        return response
    }

    /// The answer and the route that gave it (nil: `unmatched`).
    private func route(_ request: HTTPRequest) -> (Router.Route?, HTTPResponse) {
        // A method nobody knows is the client's free text (libmicrohttpd accepts any token up
        // to its header memory): it is neither echoed nor kept. On a path that exists it is
        // a 405 with Allow (what HTTP clients and schemathesis expect), elsewhere a 501.
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            let known = Metrics.knownMethods.contains(request.method)
            return (nil, known ? Problem.notFound(request.path).response : Problem.notImplemented().response)
        case .methodNotAllowed(let allowed):
            let known = Metrics.knownMethods.contains(request.method)
            return (nil, Problem.methodNotAllowed(known ? request.method : "this method", allowed: allowed).response)
        case .found(let route, let params):
            if bearerRequired[route.index], let problem = auth.check(request) {
                return (route, problem.response)
            }
            return (route, route.handler(request, params))
        }
    }
}
