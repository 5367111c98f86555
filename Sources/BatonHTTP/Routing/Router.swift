/// Values captured from `{name}` segments of a route pattern.
public struct RouteParameters: Sendable {
    var values: [(String, String)] = []
    public subscript(name: String) -> String? { values.first { $0.0 == name }?.1 }
}

/// Handles one request matched to a route.
public typealias RouteHandler = @Sendable (HTTPRequest, RouteParameters) -> HTTPResponse

/// Maps method and path to a handler. Patterns are literal segments and `{name}`
/// captures (`/tasks/{task}/runs`). A path that matches with another method is a 405
/// with `Allow`; one that matches nothing is a 404.
public struct Router: Sendable {
    public struct Route: Sendable {
        public let method: String
        public let pattern: String
        let segments: [Segment]
        public let handler: RouteHandler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case capture(String)
    }

    public enum Match {
        case found(Route, RouteParameters)
        case methodNotAllowed([String])
        case notFound
    }

    public private(set) var routes: [Route] = []

    public init() {}

    /// Adds a route; `pattern` must start with `/`.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        precondition(pattern.hasPrefix("/"), "route patterns start with /")
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .capture(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
    }

    public func match(method: String, path: String) -> Match {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes {
            guard let params = Self.bind(route.segments, parts) else { continue }
            if route.method == method { return .found(route, params) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }

    private static func bind(_ segments: [Segment], _ parts: [Substring]) -> RouteParameters? {
        guard segments.count == parts.count else { return nil }
        var params = RouteParameters()
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let l): if l != part { return nil }
            case .capture(let name): params.values.append((name, String(part)))
            }
        }
        return params
    }
}
