import Foundation

/// What scripts/test tells the integration tests (servers it started, binaries it built).
public enum TestEnvironment {
    static var env: [String: String] { ProcessInfo.processInfo.environment }

    /// Path to `redis-server`.
    public static var redisServer: String { env["BATON_TEST_REDIS_SERVER"] ?? "/usr/bin/redis-server" }

    /// Path to `redis-sentinel` (beside redis-server unless told).
    public static var redisSentinel: String {
        env["BATON_TEST_REDIS_SENTINEL"]
            ?? URL(fileURLWithPath: redisServer).deletingLastPathComponent().appendingPathComponent("redis-sentinel").path
    }

    /// Path to stunnel (Debian's stunnel4).
    public static var stunnel: String { env["BATON_TEST_STUNNEL"] ?? "/usr/bin/stunnel4" }

    /// Superuser URL of the PostgreSQL server scripts/test started.
    public static var postgresURL: String? { env["BATON_TEST_DATABASE_URL"] }

    /// PostgreSQL's pg_ctl and data directory, for tests that stop and restart it.
    public static var pgCtl: String? { env["BATON_TEST_PG_CTL"] }
    public static var pgData: String? { env["BATON_TEST_PG_DATA"] }
    public static var pgPort: String? { env["BATON_TEST_PG_PORT"] }

    /// The batond and batonctl binaries.
    public static var batond: String { env["BATON_TEST_BATOND"] ?? FileManager.default.currentDirectoryPath + "/.build/debug/batond" }
    public static var batonctl: String { env["BATON_TEST_BATONCTL"] ?? FileManager.default.currentDirectoryPath + "/.build/debug/batonctl" }

    /// The repository root (for fixtures).
    public static var root: String { env["BATON_ROOT"] ?? FileManager.default.currentDirectoryPath }

    /// A TCP port nothing listens on now, below Linux's ephemeral range (32768-60999) so
    /// that outgoing connections, which take ports from that range, cannot grab it first.
    public static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if rc == 0 { return port }
        }
        return Int.random(in: 20_000..<32_000)
    }

    /// Runs a command to completion; returns exit status and combined output.
    @discardableResult
    public static func run(_ path: String, _ args: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let out = NSTemporaryDirectory() + "baton-run-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let child = try Subprocess.spawn(path, args, environment: environment, outputPath: out)
        let status = child.wait()
        return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// Runs `chaos/<script> <args>` against the batond under test (a fresh database on
    /// the test PostgreSQL server); returns exit status and output.
    public static func runChaosScript(_ script: String, _ args: [String]) throws -> (status: Int32, output: String) {
        guard postgresURL != nil else { throw TestSetupError("BATON_TEST_DATABASE_URL is not set: run ./scripts/test") }
        var environment = ProcessInfo.processInfo.environment
        environment["BATON_ROOT"] = root
        environment["BATON_TEST_BATOND"] = batond
        environment["PYTHONUNBUFFERED"] = "1"
        return try run("/usr/bin/env", ["python3", root + "/chaos/" + script] + args, environment: environment)
    }
}

/// A precondition of the test environment failed (a server did not start).
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
