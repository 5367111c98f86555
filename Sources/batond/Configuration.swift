import BatonAPI
import BatonCore
import BatonSupport

/// batond's settings. Each comes from a flag, else its environment variable, else a
/// default; a value that cannot be used stops start-up with a message naming the
/// variable and the flag.
struct Configuration: Sendable {
    var listen = "127.0.0.1:8080"
    var redisURL = "redis://127.0.0.1:6379/0"
    var databaseURL = "postgresql:///postgres"
    var apiTokens: [String] = []
    var authRequired = true
    var defaultTTLMs = 30_000
    var breakerThreshold = 3
    var breakerCooldownMs = 5_000
    var onRedisFailure = FailurePolicy.grant
    var redisTimeoutMs = 500
    var pgTimeoutMs = 2_000
    var sessionCacheTTLMs = 5_000
    var jellyfinSchema = "public"
    var authorizationRules = AuthorizationRules.legacy
    var threads = 2 * ProcessorCount.available()
    var logLevel = Log.Level.info
    var logFormat = Log.Format.json
    var outboxCapacity = 10_000
    var headerTimeoutMs = 10_000
    var redisWaitReplicas = 0
    var redisWaitMs = 100
    /// On by default since the overlap ChaosSafetyTests saw with it was traced to two races
    /// (RedisServerIdentity, SwitchWitness) and fixed; 22 chaos runs since saw none.
    var redisPipeline = true
    var ui = UIMode.login
    var watchLimit = 2_000
    var eventStreamLimit = 256

    /// One setting: its variable, its flag, and what it means.
    struct Setting: Sendable {
        let variable: String
        let flag: String
        let help: String
    }

    static let settings: [Setting] = [
        Setting(variable: "BATON_LISTEN", flag: "listen", help: "host:port to listen on (default 127.0.0.1:8080; 0.0.0.0:8080 in containers)"),
        Setting(variable: "BATON_REDIS_URL", flag: "redis-url", help: "redis://[[user]:pass@]host:port/db, redis-sentinel://[[user]:pass@]h1:26379,h2:26379/db[?sentinel_password=..]#master, redis-cluster://[[user]:pass@]n1:6379,n2:6379, or unix:///path (default redis://127.0.0.1:6379/0); no rediss:// (use the stunnel sidecar)"),
        Setting(variable: "BATON_DATABASE_URL", flag: "database-url", help: "libpq URI or conninfo of the Jellyfin database (default postgresql:///postgres)"),
        Setting(variable: "BATON_API_TOKENS", flag: "api-tokens", help: "comma-separated bearer tokens accepted on coordination and ops endpoints"),
        Setting(variable: "BATON_API_TOKENS_FILE", flag: "api-tokens-file", help: "file with bearer tokens, one per line (# comments allowed)"),
        Setting(variable: "BATON_AUTH", flag: "auth", help: "required (default) or disabled; batond refuses to start without tokens unless disabled"),
        Setting(variable: "BATON_DEFAULT_TTL_MS", flag: "default-ttl-ms", help: "lease TTL when a request gives none, 1000-86400000 (default 30000)"),
        Setting(variable: "BATON_BREAKER_THRESHOLD", flag: "breaker-threshold", help: "consecutive backend failures that open a breaker, 1-100 (default 3)"),
        Setting(variable: "BATON_BREAKER_COOLDOWN_MS", flag: "breaker-cooldown-ms", help: "how long an open breaker waits before one probe, 100-600000 (default 5000)"),
        Setting(variable: "BATON_ON_REDIS_FAILURE", flag: "on-redis-failure", help: "grant (default: answer 200 mode=degraded) or deny (503) while the Redis breaker is open"),
        Setting(variable: "BATON_REDIS_WAIT_REPLICAS", flag: "redis-wait-replicas", help: "grants are acknowledged only once WAIT confirms this many replicas have them, 0 (off, default)-16"),
        Setting(variable: "BATON_REDIS_WAIT_MS", flag: "redis-wait-ms", help: "how long WAIT may take, 1-60000, below BATON_REDIS_TIMEOUT_MS (default 100)"),
        Setting(variable: "BATON_REDIS_PIPELINE", flag: "redis-pipeline", help: "on (default) or off: POST /leader's Redis calls share one connection, several in flight, answered by a reader thread while the workers go on (about 1.2x the requests per second). redis:// and unix:// only, not with BATON_REDIS_WAIT_REPLICAS"),
        Setting(variable: "BATON_REDIS_TIMEOUT_MS", flag: "redis-timeout-ms", help: "Redis connect and command timeout, 10-60000 (default 500)"),
        Setting(variable: "BATON_PG_TIMEOUT_MS", flag: "pg-timeout-ms", help: "PostgreSQL statement timeout, 10-60000 (default 2000)"),
        Setting(variable: "BATON_SESSION_CACHE_TTL_MS", flag: "session-cache-ttl-ms", help: "how long a valid session answer is cached, 0-3600000 (default 5000)"),
        Setting(variable: "BATON_JELLYFIN_SCHEMA", flag: "jellyfin-schema", help: "schema of Jellyfin's tables (default public)"),
        Setting(variable: "BATON_LEGACY_AUTH", flag: "legacy-auth", help: "Jellyfin's EnableLegacyAuthorization: true (default; 10.11), false (12.0 default), or 10.10 (10.9/10.10: legacy forms, X-Emby-Authorization read first)"),
        Setting(variable: "BATON_THREADS", flag: "threads", help: "HTTP worker threads, 1-256 (default twice the cores)"),
        Setting(variable: "BATON_LOG_LEVEL", flag: "log-level", help: "debug, info (default), warn or error"),
        Setting(variable: "BATON_LOG_FORMAT", flag: "log-format", help: "json (default) or text"),
        Setting(variable: "BATON_WATCH_LIMIT", flag: "watch-limit", help: "blocking reads held at once, 1-100000 (default 2000; more get 503 too_many_watchers)"),
        Setting(variable: "BATON_EVENT_STREAM_LIMIT", flag: "event-stream-limit", help: "GET /events streams open at once, 1-100000 (default 256; more get 503 too_many_watchers)"),
        Setting(variable: "BATON_OUTBOX_CAPACITY", flag: "outbox-capacity", help: "history rows kept in memory while PostgreSQL is down, 1-1000000 (default 10000)"),
        Setting(variable: "BATON_UI", flag: "ui", help: "incident page at /ui: login (default: an API token in a form, then a session cookie), open (no login; cluster-internal only) or off"),
        Setting(variable: "BATON_HEADER_TIMEOUT_MS", flag: "header-timeout-ms", help: "a request's line and headers, then its body, must each arrive within this, else the connection is closed; 0 (off) or 100-600000 (default 10000)"),
    ]

    /// A value that stops start-up.
    struct Invalid: Error, CustomStringConvertible {
        let setting: Setting
        let reason: String
        var description: String { "\(setting.variable) (--\(setting.flag)): \(reason)" }
    }

    /// Resolves every setting from `flags` (by flag name) and `environment`.
    static func resolve(flags: [String: String], environment: [String: String]) throws -> Configuration {
        var c = Configuration()
        func value(_ v: String) -> (Setting, String)? {
            let s = settings.first { $0.variable == v }!
            if let f = flags[s.flag] { return (s, f) }
            if let e = environment[v] { return (s, e) }
            return nil
        }
        func int(_ v: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let (s, raw) = value(v) else { return nil }
            guard let n = Int(raw.trimmingSpaces()), range.contains(n) else {
                throw Invalid(setting: s, reason: "must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(raw.prefix(40))'")
            }
            return n
        }
        func choice<T>(_ v: String, _ options: [String: T]) throws -> T? {
            guard let (s, raw) = value(v) else { return nil }
            guard let t = options[raw.lowercased()] else {
                throw Invalid(setting: s, reason: "must be one of \(options.keys.sorted().joined(separator: ", ")), got '\(raw.prefix(40))'")
            }
            return t
        }
        func nonEmpty(_ v: String) throws -> String? {
            guard let (s, raw) = value(v) else { return nil }
            guard !raw.isEmpty else { throw Invalid(setting: s, reason: "must not be empty") }
            return raw
        }

        if let v = try nonEmpty("BATON_LISTEN") { c.listen = v }
        if let v = try nonEmpty("BATON_REDIS_URL") { c.redisURL = v }
        if let v = try nonEmpty("BATON_DATABASE_URL") { c.databaseURL = v }
        c.authRequired = try choice("BATON_AUTH", ["required": true, "disabled": false]) ?? true
        if let v = try int("BATON_DEFAULT_TTL_MS", Limits.leaseTTL) { c.defaultTTLMs = v }
        if let v = try int("BATON_BREAKER_THRESHOLD", 1...100) { c.breakerThreshold = v }
        if let v = try int("BATON_BREAKER_COOLDOWN_MS", 100...600_000) { c.breakerCooldownMs = v }
        if let v = try choice("BATON_ON_REDIS_FAILURE", ["grant": FailurePolicy.grant, "deny": .deny]) { c.onRedisFailure = v }
        if let v = try int("BATON_REDIS_TIMEOUT_MS", 10...60_000) { c.redisTimeoutMs = v }
        if let v = try int("BATON_PG_TIMEOUT_MS", 10...60_000) { c.pgTimeoutMs = v }
        if let v = try int("BATON_REDIS_WAIT_REPLICAS", 0...16) { c.redisWaitReplicas = v }
        if let v = try int("BATON_REDIS_WAIT_MS", 1...60_000) { c.redisWaitMs = v }
        if c.redisWaitReplicas > 0 && c.redisWaitMs >= c.redisTimeoutMs {
            // WAIT would outlast the socket timeout and every grant would be of unknown outcome.
            throw Invalid(setting: settings.first { $0.variable == "BATON_REDIS_WAIT_MS" }!,
                          reason: "must be below BATON_REDIS_TIMEOUT_MS (\(c.redisTimeoutMs)), got '\(c.redisWaitMs)'")
        }
        if let v = try choice("BATON_REDIS_PIPELINE", ["on": true, "off": false]) { c.redisPipeline = v }
        if let v = try int("BATON_SESSION_CACHE_TTL_MS", 0...3_600_000) { c.sessionCacheTTLMs = v }
        if let v = try nonEmpty("BATON_JELLYFIN_SCHEMA") { c.jellyfinSchema = v }
        if let v = try choice("BATON_LEGACY_AUTH", ["true": AuthorizationRules.legacy, "false": .modern, "1": .legacy, "0": .modern,
                                                    "10.10": .jellyfin10_10, "10.9": .jellyfin10_10]) { c.authorizationRules = v }
        if let v = try int("BATON_THREADS", 1...256) { c.threads = v }
        if let v = try choice("BATON_LOG_LEVEL", Dictionary(uniqueKeysWithValues: Log.Level.allCases.map { ($0.name, $0) })) { c.logLevel = v }
        if let v = try choice("BATON_LOG_FORMAT", ["json": Log.Format.json, "text": .text]) { c.logFormat = v }
        if let v = try int("BATON_OUTBOX_CAPACITY", 1...1_000_000) { c.outboxCapacity = v }
        if let v = try int("BATON_WATCH_LIMIT", 1...100_000) { c.watchLimit = v }
        if let v = try int("BATON_EVENT_STREAM_LIMIT", 1...100_000) { c.eventStreamLimit = v }
        if let v = try int("BATON_HEADER_TIMEOUT_MS", 0...600_000) {
            guard v == 0 || v >= 100 else {
                throw Invalid(setting: settings.first { $0.variable == "BATON_HEADER_TIMEOUT_MS" }!, reason: "must be 0 (off) or from 100 to 600000, got '\(v)'")
            }
            c.headerTimeoutMs = v
        }

        if let v = try choice("BATON_UI", Dictionary(uniqueKeysWithValues: UIMode.allCases.map { ($0.rawValue, $0) })) { c.ui = v }

        if let (_, raw) = value("BATON_API_TOKENS") { c.apiTokens += Self.tokens(in: raw) }
        if let (s, path) = value("BATON_API_TOKENS_FILE") {
            guard let text = FileContents.text(atPath: path) else {
                throw Invalid(setting: s, reason: "cannot read \(path)")
            }
            c.apiTokens += text.split(whereSeparator: \.isNewline)
                .map { $0.trimmingSpaces() }
                .filter { !$0.hasPrefix("#") }
                .flatMap { Self.tokens(in: $0) }
        }
        if c.authRequired && c.apiTokens.isEmpty {
            let s = settings.first { $0.variable == "BATON_API_TOKENS" }!
            throw Invalid(setting: s, reason: "no API token configured; set BATON_API_TOKENS or BATON_API_TOKENS_FILE, or BATON_AUTH=disabled to run without authentication")
        }
        if let s = settings.first(where: { $0.variable == "BATON_API_TOKENS" }), c.apiTokens.contains(where: { $0.count < 16 }) {
            throw Invalid(setting: s, reason: "every API token must be at least 16 characters")
        }
        return c
    }

    private static func tokens(in raw: String) -> [String] {
        raw.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}
