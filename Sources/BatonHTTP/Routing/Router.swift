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
    /// A class, not a struct: a matched route is handed along for every request (to the
    /// handler, the metrics), and copying its five fields cost six retains and releases
    /// each time (callgrind, issue 17); a reference is one.
    public final class Route: Sendable {
        public let method: String
        public let pattern: String
        let segments: [Segment]
        public let handler: RouteHandler
        /// Its position in ``routes``: what a caller keys per-route facts by, computed once
        /// (a `Set<String>` of patterns costs a string hash per request).
        public let index: Int

        init(method: String, pattern: String, segments: [Segment], handler: @escaping RouteHandler, index: Int) {
            self.method = method
            self.pattern = pattern
            self.segments = segments
            self.handler = handler
            self.index = index
        }
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
    /// Routes without captures, by their exact path, when the scan in ``match`` would pick
    /// them anyway (no earlier route of the same method matches that path). Why: the scan
    /// compared every earlier route's segments first — 7,979 instructions for
    /// `/sessions/validate`, registered late, against one string hash here (issue 17).
    private var literalRoutes: [String: [Int]] = [:]

    public init() {}

    /// Adds a route; `pattern` must start with `/`.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        precondition(pattern.hasPrefix("/"), "route patterns start with /")
        let segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .capture(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
        let route = Route(method: method, pattern: pattern, segments: segments, handler: handler, index: routes.count)
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        let literal = segments.allSatisfy { if case .literal = $0 { true } else { false } }
        let shadowed = routes.contains { $0.method == method && Self.bind($0.segments, parts, ascii: false) != nil }
        if literal && !shadowed { literalRoutes[pattern, default: []].append(route.index) }
        routes.append(route)
    }

    public func match(method: String, path: String) -> Match {
        if let candidates = literalRoutes[path] {
            for i in candidates where routes[i].method == method { return .found(routes[i], RouteParameters()) }
        }
        // An ASCII path (nearly every one) is split and compared byte by byte, which is
        // then exactly what splitting and comparing Characters gives, at a fraction of the cost.
        let ascii = path.utf8.allSatisfy { $0 < 0x80 }
        let parts = ascii ? Self.asciiSegments(path) : path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        // By index: a route is copied (four reference counts) only once its path matched.
        for i in routes.indices {
            guard let params = Self.bind(routes[i].segments, parts, ascii: ascii) else { continue }
            if routes[i].method == method { return .found(routes[i], params) }
            if !allowed.contains(routes[i].method) { allowed.append(routes[i].method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }

    /// `path.split(separator: "/", omittingEmptySubsequences: true)` for an ASCII path.
    private static func asciiSegments(_ path: String) -> [Substring] {
        let utf8 = path.utf8
        var parts: [Substring] = []
        parts.reserveCapacity(4)  // the routes have at most three segments: one allocation
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex {
            if utf8[i] == UInt8(ascii: "/") {
                if start != i { parts.append(path[start..<i]) }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if start != utf8.endIndex { parts.append(path[start..<utf8.endIndex]) }
        return parts
    }

    /// `literal == part` for an ASCII `part`: two ASCII strings are equal exactly when their
    /// bytes are (a non-ASCII literal takes the Unicode comparison).
    private static func asciiEqual(_ literal: String, _ part: Substring) -> Bool {
        var literal = literal, part = part
        let same: Bool? = literal.withUTF8 { l in
            guard l.allSatisfy({ $0 < 0x80 }) else { return nil }
            return part.withUTF8 { p in l.elementsEqual(p) }
        }
        return same ?? (literal == part)
    }

    private static func bind(_ segments: [Segment], _ parts: [Substring], ascii: Bool) -> RouteParameters? {
        guard segments.count == parts.count else { return nil }
        var params = RouteParameters()
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let l):
                if !(ascii ? asciiEqual(l, part) : l == part) { return nil }
            case .capture(let name): params.values.append((name, String(part)))
            }
        }
        return params
    }
}
