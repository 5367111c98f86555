/// One HTTP request as handlers see it: everything copied out of libmicrohttpd.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path without the query string.
    public let path: String
    /// Header fields; names lowercased. A repeated field keeps its first value.
    public let headers: [String: String]
    /// Query parameters, decoded, in order.
    public let query: [(String, String)]
    public let body: [UInt8]
    /// `X-Request-Id` as received (if well-formed) or generated.
    public let requestId: String

    public init(method: String, path: String, headers: [String: String] = [:], query: [(String, String)] = [],
                body: [UInt8] = [], requestId: String = "test") {
        self.method = method
        self.path = path
        self.headers = headers
        self.query = query
        self.body = body
        self.requestId = requestId
    }

    /// The first header named `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first query parameter named `name` (exact case).
    public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
}
