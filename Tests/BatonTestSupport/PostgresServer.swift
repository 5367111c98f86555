import Foundation

/// A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), for
/// tests that stop and restart the database without disturbing other suites.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: start/stop are called sequentially by the one test that owns the server.
    public private(set) var port: Int
    public let directory: String
    private let bin: String

    public init() throws {
        port = TestEnvironment.freePort()
        directory = NSTemporaryDirectory() + "baton-pg-\(port)-\(UUID().uuidString.prefix(6))"
        guard let ctl = TestEnvironment.pgCtl else { throw TestSetupError("BATON_TEST_PG_CTL is not set: run ./scripts/test") }
        bin = URL(fileURLWithPath: ctl).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try TestEnvironment.run("/bin/chown", ["postgres", directory]) }
        let r = try asPostgres(bin + "/initdb", ["-D", directory + "/data", "-U", "postgres", "-A", "trust", "--no-sync"])
        guard r.status == 0 else { throw TestSetupError("initdb failed: \(r.output)") }
        // The port was free when chosen; another suite's server may take it before this one
        // binds it (a fresh-clone run saw "postgres did not start" once). Then another port.
        for attempt in 1...3 {
            do {
                try start()
                return
            } catch where attempt < 3 && serverLog.contains("could not bind") {
                try? FileManager.default.removeItem(atPath: directory + "/log")
                port = TestEnvironment.freePort()
            }
        }
    }

    /// The server's own log (why it did not start, when it did not).
    private var serverLog: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    deinit {
        _ = try? asPostgres(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    public func start() throws {
        let r = try asPostgres(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "30", "-o",
                                                 "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        guard r.status == 0 else { throw TestSetupError("postgres did not start: \(r.output)\n\(serverLog.suffix(2_000))") }
    }

    public func stop() throws {
        let r = try asPostgres(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
        guard r.status == 0 else { throw TestSetupError("postgres did not stop: \(r.output)") }
    }

    /// Runs SQL as the superuser.
    @discardableResult
    public func sql(_ text: String, database: String = "postgres") throws -> String {
        try PostgresDatabase.psql("postgresql://postgres@127.0.0.1:\(port)/\(database)", text)
    }

    private func asPostgres(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        if getuid() == 0 { return try TestEnvironment.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + args) }
        return try TestEnvironment.run(path, args)
    }
}
