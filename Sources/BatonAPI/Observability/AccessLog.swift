import BatonCore
public import BatonHTTP
import BatonSupport

/// One log line per request: method, path (never the query, which may carry a token),
/// status, duration and request id. Also libmicrohttpd's own messages, as warnings at a
/// limited rate (during a connection flood it has one per connection).
public struct AccessLog: HTTPObserver {
    private let serverMessages = LogLimiter(limit: 10, windowMs: 60_000)

    public init() {}

    public func served(_ request: HTTPRequest, _ response: HTTPResponse, durationNs: UInt64) {
        let log = Log.current
        let level: Log.Level = response.status >= 500 ? .warn : .info
        guard log.enabled(level) else { return }
        log.emit(level, "request", [
            "method": .string(String(request.method.prefix(16))),
            "path": .string(String(request.path.prefix(256))),
            "status": .int(Int64(response.status)),
            "duration_ms": .double(Double(durationNs) / 1e6),
            "request_id": .string(request.requestId),
        ])
    }

    public func serverMessage(_ text: String) {
        guard let suppressed = serverMessages.admit() else { return }
        if suppressed > 0 {
            Log.current.warn("http server", ["detail": .string(String(text.prefix(300))), "suppressed_before": .int(Int64(suppressed))])
        } else {
            Log.current.warn("http server", ["detail": .string(String(text.prefix(300)))])
        }
    }
}
