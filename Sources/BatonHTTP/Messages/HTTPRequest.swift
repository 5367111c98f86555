/// One HTTP request as handlers see it: everything copied out of libmicrohttpd.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path without the query string, percent-decoded.
    public let path: String
    /// Every header field in the order received, names lowercased; a repeated field appears
    /// once per occurrence (libmicrohttpd keeps each line). Strings are made on demand.
    public let headerFields: HeaderFields
    /// Header fields; names lowercased. A repeated field keeps its first value. Built on
    /// each use: routes read single fields with ``header(_:)``.
    public var headers: [String: String] {
        var first: [String: String] = [:]
        for (name, value) in headerFields.all where first[name] == nil { first[name] = value }
        return first
    }
    /// ``headerFields`` as Strings, in order.
    public var fields: [(String, String)] { headerFields.all }
    /// Query parameters, percent-decoded (`+` is a space), in order.
    public let query: [(String, String)]
    /// The query string with its percent-escapes intact (after the `?`, which is not included;
    /// `+` already read as a space). Empty when the request had none.
    public let queryString: String
    public let body: [UInt8]
    /// `X-Request-Id` as received (if well-formed) or generated.
    public var requestId: String { id.text }
    /// The same, without spelling a generated one (see ``RequestId``).
    public let id: RequestId
    /// Requests the server was handling when this one was read, itself included (held
    /// ones too): 1 when it is the only one.
    public var concurrency = 1

    /// `fields` defaults to `headers` (and when given, `headers` is read from it);
    /// `queryString` to `query` re-encoded.
    public init(method: String, path: String, headers: [String: String] = [:], query: [(String, String)] = [],
                body: [UInt8] = [], requestId: String = "test",
                fields: [(String, String)]? = nil, queryString: String? = nil) {
        self.init(method: method, path: path, headerFields: HeaderFields(fields ?? headers.map { ($0.key, $0.value) }),
                  query: query, body: body, requestId: requestId, queryString: queryString)
    }

    /// A request with its header fields as received.
    public init(method: String, path: String, headerFields: HeaderFields, query: [(String, String)] = [],
                body: [UInt8] = [], requestId: String = "test", queryString: String? = nil) {
        self.init(method: method, path: path, headerFields: headerFields, query: query, body: body, id: .given(requestId),
                  queryString: queryString)
    }

    /// A request with its header fields as received and its id.
    public init(method: String, path: String, headerFields: HeaderFields, query: [(String, String)] = [],
                body: [UInt8] = [], id: RequestId, queryString: String? = nil) {
        self.method = method
        self.path = path
        self.headerFields = headerFields
        self.query = query
        self.queryString = queryString ?? query.map { Self.escaped($0.0) + "=" + Self.escaped($0.1) }.joined(separator: "&")
        self.body = body
        self.id = id
    }

    /// The first header named `name` (any case).
    public func header(_ name: String) -> String? { headerFields.first(Self.fieldName(name)) }

    /// Calls `body` with the bytes of each header named `name` (any case), in order, until it
    /// returns false; the bytes are valid only inside `body`.
    public func forEachHeader(_ name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        headerFields.forEach(named: Self.fieldName(name), body)
    }

    /// Every value of header `name` (any case), in order.
    public func headerValues(_ name: String) -> [String] { headerFields.values(Self.fieldName(name)) }

    /// `name` as fields are stored (lowercase). Every caller in batond passes a lowercase
    /// literal, which `lowercased()` would copy anyway: ~215 instructions per look-up,
    /// several per request (callgrind, issue 17).
    private static func fieldName(_ name: String) -> String {
        var name = name
        let lower = name.withUTF8 { !$0.contains(where: { $0 >= 0x41 && $0 <= 0x5A || $0 >= 0x80 }) }
        return lower ? name : name.lowercased()
    }

    /// All values of header `name` joined with `,` (as ASP.NET's StringValues reads a
    /// repeated header); nil when absent.
    public func joinedHeader(_ name: String) -> String? {
        let values = headerValues(name)
        return values.isEmpty ? nil : values.joined(separator: ",")
    }

    /// Whether ``joinedHeader(_:)`` would be non-empty, without making it: two or more fields
    /// join with a `,`; one is non-empty when its value is. (ASP.NET's
    /// `string.IsNullOrEmpty(StringValues)`, asked of the Authorization header on every
    /// session validation: making the Strings cost ~1,800 instructions, issue 17.)
    public func hasNonEmptyJoinedHeader(_ name: String) -> Bool {
        var fields = 0, nonEmpty = false
        forEachHeader(name) { value in
            fields += 1
            nonEmpty = fields > 1 || !value.isEmpty
            return !nonEmpty
        }
        return nonEmpty
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
