import Foundation

/// A redis-sentinel of the test's own on a free loopback port, watching the given masters.
/// Its configuration file lives in a temporary folder (Sentinel rewrites it as it learns).
public final class SentinelProcess: @unchecked Sendable {
    // @unchecked: `process` is mutated only by start/kill, which one test calls sequentially.
    public private(set) var port: Int
    public let directory: String
    private var process: Subprocess?

    /// - Parameters:
    ///   - masters: master names and the ports of their current masters on 127.0.0.1.
    ///   - downAfterMs: how long a master may be silent before it counts as down.
    public init(monitoring masters: [(name: String, port: Int)], quorum: Int = 1, downAfterMs: Int = 1_000,
                failoverTimeoutMs: Int = 3_000) throws {
        port = TestEnvironment.freePort()
        directory = NSTemporaryDirectory() + "baton-sentinel-\(port)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var conf = "bind 127.0.0.1\nport \(port)\ndir \(directory)\nlogfile sentinel.log\n"
        for m in masters {
            conf += """
            sentinel monitor \(m.name) 127.0.0.1 \(m.port) \(quorum)
            sentinel down-after-milliseconds \(m.name) \(downAfterMs)
            sentinel failover-timeout \(m.name) \(failoverTimeoutMs)
            sentinel parallel-syncs \(m.name) 1

            """
        }
        try conf.write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var configPath: String { directory + "/sentinel.conf" }

    public func start() throws {
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("port ") }), let p = Int(line.dropFirst(5)) { port = p }
        process = try Subprocess.spawn(TestEnvironment.redisSentinel, [configPath])
        for _ in 0..<200 {
            if (try? cli("PING")) == "PONG" { return }
            if let p = process, p.poll() != nil {
                process = nil
                throw TestSetupError("redis-sentinel exited at start-up on port \(port)")
            }
            usleep(25_000)
        }
        throw TestSetupError("redis-sentinel did not start on port \(port)")
    }

    public func kill() {
        guard let p = process else { return }
        p.signal(SIGKILL)
        p.wait()
        process = nil
    }

    /// The master this sentinel names for `name`, as a port on 127.0.0.1.
    public func masterPort(_ name: String) -> Int? {
        guard let out = try? cli("SENTINEL", "get-master-addr-by-name", name) else { return nil }
        let lines = out.split(separator: "\n")
        return lines.count == 2 ? Int(lines[1]) : nil
    }

    @discardableResult
    public func cli(_ args: String...) throws -> String {
        let cli = URL(fileURLWithPath: TestEnvironment.redisServer).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        return try TestEnvironment.run(cli, ["-p", String(port)] + args).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
