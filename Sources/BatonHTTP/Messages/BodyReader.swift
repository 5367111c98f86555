/// Reads a JSON object body field by field, with errors that name the field.
///
/// Bodies are parsed as JSON whatever the Content-Type (plain `curl -d` must work).
/// Unknown fields are rejected, so a typo (`ttl` for `ttl_ms`) is a 400, not a silent default.
public struct BodyReader {
    /// The body's members, in order.
    private let members: [(String, JSONValue)]

    /// The body as a JSON object.
    public var object: JSONValue { .object(members) }

    /// Parses `body`; an empty body is an empty object when `emptyIsObject`.
    public init(_ body: [UInt8], allowed: Set<String>, emptyIsObject: Bool = false) throws(Problem) {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard emptyIsObject else { throw Problem.badRequest("invalid_json", "request body is empty; expected a JSON object") }
            members = []
            return
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw Problem.badRequest("invalid_json", "request body is not valid JSON: \(error)")
        }
        guard case .object(let pairs) = value else {
            throw Problem.badRequest("invalid_json", "request body must be a JSON object, got \(value.typeName)")
        }
        // A scan, not `allowed.contains`: a route allows at most a handful of fields, and
        // comparing a few short strings costs less than hashing each key (issue 17).
        for (key, _) in pairs where !allowed.contains(where: { sameKey($0, key) }) {
            throw Problem.invalidField(String(key.prefix(64)), "unknown field; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
        members = pairs
    }

    /// The member named `name`, read from the members themselves: through ``object`` each
    /// look-up copied the object out of its enum first (issue 17).
    private func member(_ name: String) -> JSONValue? {
        for (key, value) in members where sameKey(key, name) { return value }
        return nil
    }

    /// A string field; nil when absent (or null) and not required.
    public func string(_ name: String, required: Bool = false) throws(Problem) -> String? {
        switch member(name) {
        case nil, .null?:
            if required { throw Problem.invalidField(name, "is required") }
            return nil
        case .string(let s)?: return s
        case let other?: throw Problem.invalidField(name, "expected string, got \(other.typeName)")
        }
    }

    /// An integer field within `range`; nil when absent (or null).
    public func int(_ name: String, in range: ClosedRange<Int>, required: Bool = false) throws(Problem) -> Int? {
        switch member(name) {
        case nil, .null?:
            if required { throw Problem.invalidField(name, "is required") }
            return nil
        case .int(let v)?:
            guard v >= Int64(range.lowerBound), v <= Int64(range.upperBound) else {
                throw Problem.invalidField(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(v)")
            }
            return Int(v)
        case .double(let d)?:
            // JSON has one number type: 30000.0 and 3e4 are the integer 30000 (as for
            // JSON Schema's `integer`, which clients generate from). Fractions are not.
            guard let v = Int(exactly: d) else { throw Problem.invalidField(name, "expected an integer, got \(d)") }
            guard range.contains(v) else {
                throw Problem.invalidField(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(v)")
            }
            return v
        case let other?:
            throw Problem.invalidField(name, "expected integer, got \(other.typeName)")
        }
    }
}
