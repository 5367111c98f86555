import CLibPQ

/// How to reach PostgreSQL: `BATON_DATABASE_URL` (a libpq URI or key=value conninfo)
/// and the per-statement timeout.
public struct PostgresSettings: Sendable {
    public let url: String
    public let timeoutMs: Int

    public init(url: String, timeoutMs: Int = 2_000) {
        self.url = url
        self.timeoutMs = timeoutMs
    }

    /// The connection settings without any secret, safe for logs and `/status`: what
    /// libpq's own parser (`PQconninfoParse`) finds in the URL, as `key=value` conninfo,
    /// with every option libpq marks as a password (`dispchar` `*`: `password`,
    /// `sslpassword`) shown as `***`.
    ///
    /// libpq's parser, not a hand-written one, because libpq accepts more forms than a
    /// scan for `:pass@` or `password=` finds: `?password=X` in a URI, `password = X`,
    /// tab-separated pairs and `password='X y'` all printed the password (issue 15).
    /// A string libpq cannot parse is not shown at all (its error message may quote it).
    public var redacted: String {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &error) else {
            if let error { PQfreemem(error) }
            return "(not a valid libpq connection string)"
        }
        defer { PQconninfoFree(options) }
        var parts: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                let secret = option.pointee.dispchar.map { $0.pointee == CChar(UInt8(ascii: "*")) } ?? false
                parts.append(String(cString: keyword) + "=" + (secret ? "***" : Self.quoted(String(cString: value))))
            }
            option += 1
        }
        return parts.joined(separator: " ")
    }

    /// A conninfo value, single-quoted (with `\` escapes) when it is empty or has a space,
    /// a quote or a backslash.
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "'" || $0 == "\\" || $0.isWhitespace }) else { return value }
        var out = "'"
        for c in value {
            if c == "'" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "'"
    }
}
