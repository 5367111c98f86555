/// One HTTP request as handlers see it: everything copied out of libmicrohttpd.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path without the query string, percent-decoded.
    public let path: String
    /// Header fields; names lowercased. A repeated field keeps its first value.
    public let headers: [String: String]
    /// Every header field in the order received, names lowercased; a repeated field appears
    /// once per occurrence (libmicrohttpd keeps each line).
    public let fields: [(String, String)]
    /// Query parameters, percent-decoded (`+` is a space), in order.
    public let query: [(String, String)]
    /// The query string with its percent-escapes intact (after the `?`, which is not included;
    /// `+` already read as a space). Empty when the request had none.
    public let queryString: String
    public let body: [UInt8]
    /// `X-Request-Id` as received (if well-formed) or generated.
    public let requestId: String

    /// `fields` defaults to `headers`; `queryString` to `query` re-encoded.
    public init(method: String, path: String, headers: [String: String] = [:], query: [(String, String)] = [],
                body: [UInt8] = [], requestId: String = "test",
                fields: [(String, String)]? = nil, queryString: String? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.fields = fields ?? headers.map { ($0.key, $0.value) }
        self.query = query
        self.queryString = queryString ?? query.map { Self.escaped($0.0) + "=" + Self.escaped($0.1) }.joined(separator: "&")
        self.body = body
        self.requestId = requestId
    }

    /// The first header named `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Every value of header `name` (any case), in order.
    public func headerValues(_ name: String) -> [String] {
        let n = name.lowercased()
        return fields.compactMap { $0.0 == n ? $0.1 : nil }
    }

    /// All values of header `name` joined with `,` (as ASP.NET's StringValues reads a
    /// repeated header); nil when absent.
    public func joinedHeader(_ name: String) -> String? {
        let values = headerValues(name)
        return values.isEmpty ? nil : values.joined(separator: ",")
    }

    /// The first query parameter named `name` (exact case).
    public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }

    private static func escaped(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.append(c)
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
