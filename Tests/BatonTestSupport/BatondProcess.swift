import Foundation

/// A batond subprocess started for one test: the real binary with its real
/// configuration handling, on a free port, against the given Redis and PostgreSQL.
public final class BatondProcess: @unchecked Sendable {
    // @unchecked: `process` is mutated only by start/stop, which one test calls sequentially.
    public static let token = "test-token-0123456789abcdef"
    public private(set) var port: Int
    public private(set) var environment: [String: String]
    public private(set) var logPath: String
    private var process: Subprocess?
    private var exitStatus: Int32?

    public init(redisURL: String, databaseURL: String, extra: [String: String] = [:], port: Int? = nil) throws {
        self.port = port ?? TestEnvironment.freePort()
        logPath = NSTemporaryDirectory() + "batond-\(self.port)-\(UUID().uuidString.prefix(6)).log"
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BATON_") || $0.key.hasPrefix("BATON_TEST") }
        env["BATON_LISTEN"] = "127.0.0.1:\(self.port)"
        env["BATON_REDIS_URL"] = redisURL
        env["BATON_DATABASE_URL"] = databaseURL
        env["BATON_API_TOKENS"] = Self.token
        env["BATON_REDIS_TIMEOUT_MS"] = "300"
        env["BATON_PG_TIMEOUT_MS"] = "1000"
        env["BATON_BREAKER_COOLDOWN_MS"] = "1000"
        env["BATON_THREADS"] = "4"
        for (k, v) in extra { env[k] = v }
        environment = env
        // A port found free can be taken before batond binds it: try a few when the
        // caller did not ask for a specific one.
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch where attempt < 3 && port == nil && self.log.contains("cannot listen") {
                self.port = TestEnvironment.freePort()
                environment["BATON_LISTEN"] = "127.0.0.1:\(self.port)"
                // A log of its own: the failed attempt's lines (an error, and a tail the
                // next start would not overwrite) are not this server's (seen in a full
                // run: migrationsAreIdempotentWhenTwoServersStartTogether read them).
                logPath = NSTemporaryDirectory() + "batond-\(self.port)-\(UUID().uuidString.prefix(6)).log"
            }
        }
    }

    deinit {
        if let p = process {
            p.signal(SIGKILL)
            p.wait()
        }
    }

    public var pid: Int32? { process?.pid }

    /// Whether the process is still running (reaps it if it exited).
    public var isRunning: Bool {
        guard let p = process else { return false }
        if let status = p.poll() {
            exitStatus = status
            process = nil
            return false
        }
        return true
    }

    public func start() throws {
        process = try Subprocess.spawn(TestEnvironment.batond, [], environment: environment, outputPath: logPath)
        let client = HTTPClient(port: port, timeoutSeconds: 2)
        for _ in 0..<400 {
            if !isRunning { throw TestSetupError("batond exited at start-up: \(self.log)") }
            if let r = try? client.get("/healthz", auth: false), r.status == 200 { return }
            usleep(25_000)
        }
        throw TestSetupError("batond did not answer /healthz: \(self.log)")
    }

    /// Sends `signal` and waits up to `timeout` seconds; returns the exit status (nil if still running).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Double = 15) -> Int32? {
        guard let p = process else { return exitStatus }
        p.signal(signal)
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(10_000) }
        return isRunning ? nil : exitStatus
    }

    /// A client with the API token.
    public func client() -> HTTPClient { HTTPClient(port: port, token: Self.token) }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
