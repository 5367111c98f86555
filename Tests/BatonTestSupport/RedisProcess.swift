import Foundation

/// A redis-server of the test's own, on a free loopback port, that the test may kill,
/// pause and restart. Data lives in a temporary folder; AOF optional.
public final class RedisProcess: @unchecked Sendable {
    // @unchecked: `process` is mutated only by start/kill, which one test calls sequentially;
    // no two threads use one RedisProcess at the same time.
    public private(set) var port: Int
    public let directory: String
    public let appendOnly: Bool
    /// More redis-server arguments (`--requirepass`, `--cluster-enabled`, ...).
    public let extraArgs: [String]
    private var process: Subprocess?

    /// Whether the server speaks TLS only (`port` is then its tls-port, and readiness is
    /// that it listens: PING needs a TLS client).
    public let tlsOnly: Bool

    public init(appendOnly: Bool = false, extraArgs: [String] = [], tlsOnly: Bool = false) throws {
        self.extraArgs = extraArgs
        self.tlsOnly = tlsOnly
        port = TestEnvironment.freePort()
        directory = NSTemporaryDirectory() + "baton-redis-\(port)-\(UUID().uuidString.prefix(8))"
        self.appendOnly = appendOnly
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A port found free can be taken (by an outgoing connection, say) before
        // redis-server binds it: try a few.
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch where attempt < 3 {
                port = TestEnvironment.freePort()
            }
        }
    }

    deinit {
        kill()  // nothing of this throw-away server needs saving
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public func start() throws {
        process = try Subprocess.spawn(TestEnvironment.redisServer, (tlsOnly ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)]) + [ "--bind", "127.0.0.1", "--dir", directory, "--save", "",
            "--appendonly", appendOnly ? "yes" : "no", "--maxmemory-policy", "noeviction", "--logfile", "redis.log",
        ] + extraArgs)
        for _ in 0..<400 {
            if tlsOnly ? Self.listening(port: port) : ping() { return }
            if let p = process, p.poll() != nil {
                process = nil
                throw TestSetupError("redis-server exited at start-up on port \(port)")
            }
            usleep(25_000)
        }
        throw TestSetupError("redis-server did not start on port \(port)")
    }

    /// SIGKILL, as in a crash.
    public func kill() {
        guard let p = process else { return }
        p.signal(SIGKILL)
        p.wait()
        process = nil
    }

    public func restart() throws {
        kill()
        try start()
    }

    private var dumpPath: String { directory + "/dump.rdb" }
    private var snapshotPath: String { directory + "/snapshot.rdb" }

    /// A restart that keeps the data (SAVE first): a new server process, a new run id.
    public func restartKeepingData() throws {
        _ = try cli("SAVE")
        kill()
        try start()
        try? FileManager.default.removeItem(atPath: dumpPath)  // a later restart() forgets again
    }

    /// Keeps a copy of the data as it is now (for ``failoverToSnapshot()``).
    public func snapshot() throws {
        _ = try cli("SAVE")
        try? FileManager.default.removeItem(atPath: snapshotPath)
        try FileManager.default.moveItem(atPath: dumpPath, toPath: snapshotPath)
    }

    /// A failover to a replica that lags: the server comes back with the data of the last
    /// ``snapshot()``, missing every write since.
    public func failoverToSnapshot() throws {
        kill()
        try? FileManager.default.removeItem(atPath: dumpPath)
        try FileManager.default.copyItem(atPath: snapshotPath, toPath: dumpPath)
        try start()
        try? FileManager.default.removeItem(atPath: dumpPath)
    }

    /// SIGSTOP / SIGCONT: a hung server that keeps its connections open.
    public func pause() { process?.signal(SIGSTOP) }
    public func resume() { process?.signal(SIGCONT) }

    /// Runs a command through redis-cli.
    @discardableResult
    public func cli(_ args: String...) throws -> String { try cli(args) }

    /// Runs a command through redis-cli, arguments as an array.
    @discardableResult
    public func cli(_ args: [String]) throws -> String {
        let cli = URL(fileURLWithPath: TestEnvironment.redisServer).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        return try TestEnvironment.run(cli, ["-p", String(port), "--no-auth-warning"] + cliAuth + args).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Credentials redis-cli should use (after a test set a password on `default`).
    public var cliAuth: [String] = []

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func listening(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    public func ping() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return false }
        let cmd = "PING\r\n"
        _ = cmd.withCString { send(fd, $0, strlen($0), 0) }
        var buf = [UInt8](repeating: 0, count: 16)
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(fd, &buf, 16, 0)
        let answer = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        return answer.hasPrefix("+PONG") || answer.hasPrefix("-NOAUTH")  // a password-protected server is up too
    }
}
