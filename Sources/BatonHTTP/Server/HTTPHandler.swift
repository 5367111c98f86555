/// What the server calls for every complete request, on one of its worker threads.
/// Handlers block (Redis and PostgreSQL calls are synchronous on the worker's own
/// connections); the pool size bounds concurrency.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) -> HTTPResponse
}

/// Sees every request once it has been answered: access logs, metrics.
public protocol HTTPObserver: Sendable {
    /// - Parameter durationNs: from the first byte of the request to the response being queued.
    func served(_ request: HTTPRequest, _ response: HTTPResponse, durationNs: UInt64)
    /// A message of libmicrohttpd itself (a failed accept, a connection reset), on the
    /// thread that met it.
    func serverMessage(_ text: String)
}

extension HTTPObserver {
    public func serverMessage(_ text: String) {}
}
