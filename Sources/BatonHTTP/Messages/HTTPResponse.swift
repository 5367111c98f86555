/// An HTTP response to be sent by the server.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Set when the answer comes later (see ``DeferredResponse``); status, headers and body
    /// are then not sent.
    public var deferred: DeferredResponse?
    /// Set for a body written over time (see ``EventStream``); `body` is then not sent.
    public var stream: EventStream?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A streamed answer (Server-Sent Events and the like) with status 200.
    public static func stream(_ stream: EventStream, headers: [(String, String)]) -> HTTPResponse {
        var r = HTTPResponse(status: 200, headers: headers)
        r.stream = stream
        return r
    }

    /// The request is held, without a worker thread, until `answer` is fulfilled.
    public static func deferred(_ answer: DeferredResponse) -> HTTPResponse {
        var r = HTTPResponse(status: 200)
        r.deferred = answer
        return r
    }

    /// A JSON answer.
    public static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> HTTPResponse {
        json(status, encoded: value.encoded(), headers: headers)
    }

    /// A JSON answer already encoded.
    public static func json(_ status: Int, encoded body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        guard !headers.isEmpty else { return HTTPResponse(status: status, headers: jsonHeaders, body: body) }
        return HTTPResponse(status: status, headers: jsonHeaders + headers, body: body)
    }

    /// Made once and shared: a new one-element array per answer was an allocation per request.
    private static let jsonHeaders = [("Content-Type", "application/json")]

    /// A plain-text answer.
    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }

    /// The value of header `name` (any case).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
