import BatonCore
import BatonHTTP

/// Runs a route body that may fail with a problem (bad input).
func handle(_ body: () throws(Problem) -> HTTPResponse) -> HTTPResponse {
    do {
        return try body()
    } catch {
        return error.response
    }
}

/// Maps a domain decision to 200, 409 or 503.
func answer<V>(_ decision: Decision<V>, _ render: (V) -> JSONValue) -> HTTPResponse {
    answer(decision, encoded: { render($0).encoded() })
}

/// Maps a domain decision to 200, 409 or 503, the JSON written by `render`.
func answer<V>(_ decision: Decision<V>, encoded render: (V) -> [UInt8]) -> HTTPResponse {
    switch decision {
    case .ok(let v): return .json(200, encoded: render(v))
    case .conflict(let v): return .json(409, encoded: render(v))
    case .recovering(let v, let retryAfterMs):
        return .json(409, encoded: render(v), headers: [("Retry-After", String(max(1, (retryAfterMs + 999) / 1000)))])
    case .unavailable(let error, let retryAfterMs): return redisUnavailable(error, retryAfterMs).response
    }
}

func redisUnavailable(_ error: BackendError?, _ retryAfterMs: Int) -> Problem {
    if let error, let what = error.misconfiguration {
        // Not an outage: the server answered, and the answer says what to fix.
        return Problem(status: 503, code: what.rawValue, title: "Redis is misconfigured for batond",
                       detail: "\(what.fix) (Redis said: \(error.message.prefix(160)))",
                       headers: [("Retry-After", String(max(1, retryAfterMs / 1000)))])
    }
    let detail = error.map { "Redis did not answer (\($0.kind.rawValue)); retry later" }
        ?? "Redis is unreachable (circuit breaker open); no degraded answer applies here (a read, or policy deny); retry later"
    return .unavailable("Redis", retryAfterMs: retryAfterMs, detail: detail)
}

/// Maps a PostgreSQL read guarded by the breaker to 200 or 503.
func answerHistory<V>(_ read: HistoryService.Read<V>, _ render: (V) -> JSONValue) -> HTTPResponse {
    switch read {
    case .ok(let v):
        return .json(200, render(v))
    case .unavailable(let error?, let retryAfterMs):
        return Problem.unavailable("PostgreSQL", retryAfterMs: retryAfterMs,
                                   detail: "PostgreSQL did not answer (\(error.kind.rawValue)); history is unavailable, coordination still works").response
    case .unavailable(nil, let retryAfterMs):
        return Problem.unavailable("PostgreSQL", retryAfterMs: retryAfterMs,
                                   detail: "PostgreSQL is unreachable (circuit breaker open); history is unavailable, coordination still works").response
    }
}
