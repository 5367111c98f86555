import ArgumentParser
import Foundation

extension BatonClient {
    /// `GET /leader?lease=&index=&wait=`: the state once it differs from `index` (at once
    /// without an index), with the index to wait on next (nil when Baton gave none).
    func leader(lease: String, index: Int64?, waitMs: Int64?) async throws -> (state: Schemas.LeaseState, index: Int64?) {
        try await call {
            let query = Operations.getLeader.Input.Query(lease: lease, index: index, wait: waitMs.map { "\($0)ms" })
            switch try await client.getLeader(query: query) {
            case .ok(let r):
                let state = try r.body.json
                return (state, state.index ?? r.headers.X_hyphen_Baton_hyphen_Index)
            case .badRequest(let r): throw Self.rejected(400, r)
            case .unauthorized(let r): throw Self.rejected(401, r)
            case .serviceUnavailable(let r): throw Self.unavailable(r)
            case .undocumented(let status, _): throw Self.undocumented(status)
            }
        }
    }
}

/// Waits on a blocking read, but returns early (nil) when batonctl gets a signal, so a
/// waiting `lock` or `leader watch` still stops within 100 ms of SIGTERM.
func untilSignal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            while SignalCatcher.shared.signal == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

extension LeaderCommand {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the lease's state at once and on every change (blocking GET /leader).",
            discussion: """
            Each change (a tenure begins or ends, or expires; renewals are not changes) is
            printed as it happens, through a blocking read (?index=&wait=) rather than polling.
            With --exec, CMD runs through /bin/sh after each print, with BATON_LEASE,
            BATON_HOLDER (empty when vacant), BATON_FENCING_TOKEN and BATON_INDEX set; batonctl
            waits for it before watching on. Stops on SIGINT/SIGTERM (exit 0); while Baton
            cannot be reached it retries with backoff up to 5 s.
            """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: LeaseOptions
        @Option(help: ArgumentHelp("Run this shell command after each change.", valueName: "cmd"))
        var exec: String?
        @Option(help: ArgumentHelp("Longest single wait sent to Baton (at most 5m).", valueName: "duration"))
        var wait: CLIDuration = CLIDuration(milliseconds: 30_000)
        @Option(help: ArgumentHelp("Stop after this many changes (0: never).", valueName: "n"))
        var count: Int = 0

        mutating func validate() throws {
            guard wait.milliseconds >= 100, wait.milliseconds <= 300_000 else { throw ValidationError("--wait must be from 100ms to 5m") }
            guard count >= 0 else { throw ValidationError("--count must not be negative") }
        }

        func run() async throws {
            SignalCatcher.shared.install()
            // The request may take the whole wait: its timeout is the wait plus the usual one.
            let client = try global.client(timeout: CLIDuration(milliseconds: wait.milliseconds + global.timeout.milliseconds))
            let lease = options.lease, waitMs = wait.milliseconds
            var index: Int64? = nil
            var printed = 0
            var backoffMs: Int64 = 200
            var lastShown: String? = nil
            while SignalCatcher.shared.signal == nil {
                let asked = index
                let answer: (state: Schemas.LeaseState, index: Int64?)?
                do {
                    answer = try await untilSignal { try await client.leader(lease: lease, index: asked, waitMs: asked == nil ? nil : waitMs) }
                } catch let error as BatonError where error.isUnavailable {
                    Log.info("\(error); retrying in \(Format.duration(ms: backoffMs))")
                    let pause = backoffMs
                    _ = try? await untilSignal { try await Task.sleep(for: .milliseconds(pause)) }
                    backoffMs = min(backoffMs * 2, 5_000)
                    index = nil
                    continue
                }
                guard let answer else { break }
                backoffMs = 200
                if answer.index == nil {
                    // A Baton without blocking reads (or without Redis right now): poll gently.
                    _ = try? await untilSignal { try await Task.sleep(for: .milliseconds(2_000)) }
                }
                // A wait that ran out, or a change that left the same holder and tenure: not printed.
                let s = answer.state
                let shown = "\(s.holder ?? "")|\(s.fencing_token.map(String.init) ?? "")|\(s.mode.rawValue)"
                index = answer.index
                if shown == lastShown { continue }
                lastShown = shown
                if global.json {
                    try client.printRawJSON("getLeader")
                } else {
                    let who = s.holder.map { "\($0) (token \(s.fencing_token.map(String.init) ?? "-"))" } ?? "(vacant)"
                    printOut("\(ISO8601DateFormatter().string(from: Date())) \(lease) \(who) mode=\(s.mode.rawValue) index=\(answer.index.map(String.init) ?? "-")")
                }
                if let exec {
                    let status = runHook(exec, environment: [
                        "BATON_LEASE": lease, "BATON_HOLDER": s.holder ?? "",
                        "BATON_FENCING_TOKEN": s.fencing_token.map(String.init) ?? "", "BATON_INDEX": answer.index.map(String.init) ?? "",
                    ])
                    if status != 0 { Log.info("--exec command exited \(status)") }
                }
                printed += 1
                if count > 0 && printed >= count { return }
            }
        }

        /// Runs `command` with /bin/sh -c and waits; returns its exit status.
        private func runHook(_ command: String, environment extra: [String: String]) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            var env = ProcessInfo.processInfo.environment
            for (k, v) in extra { env[k] = v }
            env["BATON_TOKEN"] = nil
            p.environment = env
            do {
                try p.run()
            } catch {
                Log.info("--exec: cannot run /bin/sh: \(error)")
                return 127
            }
            p.waitUntilExit()
            return p.terminationStatus
        }
    }
}

/// How `batonctl lock --wait` waits for a lease someone else holds: a blocking read that
/// returns when the tenure ends or expires (or after `maxWaitMs`), instead of polling every
/// 2 s. Against a Baton without blocking reads (no index in its answer), or one whose change
/// feed is down (it answers at once), it sleeps `fallbackMs` as before.
struct LeaseWaiter {
    let client: BatonClient
    let lease: String
    var maxWaitMs: Int64 = 30_000

    init(global: GlobalOptions, lease: String) throws {
        client = try global.client(timeout: CLIDuration(milliseconds: 30_000 + global.timeout.milliseconds))
        self.lease = lease
    }

    /// Returns once the lease may have changed hands (or on a signal).
    func waitWhileHeld(by holder: String?, fallbackMs: Int64) async {
        let c = client, lease = self.lease, wait = maxWaitMs
        let started = ContinuousClock.now
        let now = try? await untilSignal { try await c.leader(lease: lease, index: nil, waitMs: nil) }
        guard let current = now ?? nil else { return await sleep(fallbackMs) }
        if current.state.holder != holder { return }  // it changed already: try now
        guard let index = current.index else { return await sleep(fallbackMs) }
        _ = try? await untilSignal { try await c.leader(lease: lease, index: index, waitMs: wait) }
        // An answer at once with nothing changed means no blocking read here: do not spin.
        if ContinuousClock.now - started < .milliseconds(100) { await sleep(fallbackMs) }
    }

    private func sleep(_ ms: Int64) async {
        _ = try? await untilSignal { try await Task.sleep(for: .milliseconds(ms)) }
    }
}
