/// How to reach PostgreSQL: `BATON_DATABASE_URL` (a libpq URI or key=value conninfo)
/// and the per-statement timeout.
public struct PostgresSettings: Sendable {
    public let url: String
    public let timeoutMs: Int

    public init(url: String, timeoutMs: Int = 2_000) {
        self.url = url
        self.timeoutMs = timeoutMs
    }

    /// The URL without its password, safe for logs and `/status`.
    public var redacted: String {
        if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = url[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                return String(url[..<colon]) + ":***" + String(url[at...])
            }
            return url
        }
        // key=value form: hide password=...
        return url.split(separator: " ").map { $0.hasPrefix("password=") ? "password=***" : String($0) }.joined(separator: " ")
    }
}
