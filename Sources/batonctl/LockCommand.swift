import ArgumentParser
import Foundation
import Synchronization

/// A fencing token that can change during a run (a degraded tenure re-acquired once Redis is back).
final class TokenBox: Sendable {
    private let value: Mutex<Int64?>
    init(_ value: Int64?) { self.value = Mutex(value) }
    var token: Int64? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Run a command only while this holder leads a lease.",
        discussion: """
        Acquires the lease (POST /leader), runs the command, renews the lease every ttl/3 \
        (POST /lease/renew with the fencing token) and releases it when the command ends.

        batonctl keeps a local monotonic deadline: the time of the last successful renewal \
        request + ttl - margin (margin = grace + min(1s, ttl/10)). When the lease is lost, \
        or renewals keep failing until that deadline, the command's process group gets \
        SIGTERM, then SIGKILL after --grace: the command is gone before the lease can expire \
        on the server, so two commands never run past the deadline. If batonctl itself dies, \
        the command is stopped the same way within about 100 ms.

        The command gets BATON_LEASE, BATON_HOLDER, BATON_FENCING_TOKEN (empty in degraded \
        mode) and BATON_MODE (normal, degraded, or local when it runs without Baton).

        When this holder already holds the lease (another batonctl with the same holder is \
        running, or one died less than a TTL ago) the command is skipped.

        \(Exit.helpText)
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("The lease's name.", valueName: "name"))
    var lease: String

    @Option(help: ArgumentHelp("Lease TTL: how long the lease outlives a dead holder (30s, 5m, 1500ms).", valueName: "duration"))
    var ttl = CLIDuration(milliseconds: 30_000)

    @Flag(help: "Wait until the lease is free instead of exiting 75.")
    var wait = false

    @OptionGroup var policy: RunPolicyOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command, after --.", valueName: "command"))
    var command: [String] = []

    mutating func validate() throws {
        try Names.checkName(lease, "--lease")
        try Names.checkHolder(global.resolvedHolder)
        guard ttl.milliseconds >= 1000, ttl.milliseconds <= 86_400_000 else {
            throw ValidationError("--ttl must be from 1s to 24h")
        }
        guard !command.isEmpty else { throw ValidationError("no command: put it after --, e.g. batonctl lock --lease L -- ./job.sh") }
        let timing = Timing(periodMs: ttl.milliseconds, graceMs: policy.grace?.milliseconds)
        guard timing.marginMs + timing.renewEveryMs < ttl.milliseconds else {
            throw ValidationError("--grace \(policy.grace?.description ?? "") is too long for --ttl \(ttl): it must leave time for renewals")
        }
    }

    func run() async throws {
        SignalCatcher.shared.install()
        let holder = global.resolvedHolder
        let ttlMs = ttl.milliseconds
        let timing = Timing(periodMs: ttlMs, graceMs: policy.grace?.milliseconds)
        let client = try global.client(timeout: CLIDuration(milliseconds: timing.requestTimeoutMs(limit: global.timeout.milliseconds)))
        let breaker = policy.breaker(key: "lease-\(lease)")
        let clock = ContinuousClock()
        let what = "lease \(lease)"

        var announcedWait = false
        let waiter = try LeaseWaiter(global: global, lease: lease)
        while true {
            if let sig = SignalCatcher.shared.signal {
                Log.info("got signal \(sig) while waiting for \(what): not running the command")
                throw ExitCode(128 + sig)
            }
            // Read first. POST /leader by a holder that already leads renews its tenure, so
            // retrying it (cron, --wait) would keep a dead predecessor's tenure of the same
            // holder alive forever. Only a Baton that cannot be reached at all stops here; a
            // 503 (Redis down) goes on to POST /leader, which may grant in degraded mode.
            var answer: Answer<Schemas.LeaseState>?
            do {
                let current = try await client.leader(lease: lease)
                if current.holder == holder { answer = .ok(current) }
            } catch BatonError.unavailable(let why) where !why.hasPrefix("HTTP ") {
                if try await unavailable(why, breaker: breaker, client: client, holder: holder, timing: timing) { continue }
            } catch {
                // Baton answered: POST /leader below gives the real answer.
            }

            let sent = clock.now
            if answer == nil {
                do {
                    answer = try await client.acquire(lease: lease, holder: holder, ttlMs: Int(ttlMs))
                } catch BatonError.unavailable(let why) {
                    if try await unavailable(why, breaker: breaker, client: client, holder: holder, timing: timing) { continue }
                } catch BatonError.conflict(let why) {
                    breaker.recordSuccess()
                    if wait {
                        if !announcedWait { Log.info("\(what) is not available (\(why)); waiting"); announcedWait = true }
                        try? await Task.sleep(for: .milliseconds(min(timing.renewEveryMs, 2000)))
                        continue
                    }
                    Log.info("\(what) is not available (\(why)); not leader, skipping (exit \(policy.skippedExit))")
                    throw ExitCode(policy.skippedExit)
                } catch let error as BatonError {
                    Log.info("\(error)")
                    throw ExitCode(Exit.error)
                }
            }
            guard let answer else { continue }
            breaker.recordSuccess()

            let state: Schemas.LeaseState
            switch answer {
            case .ok(let s) where s.leader && (s.acquired || s.mode == .degraded):
                state = s
            case .ok(let s):
                let why = "holder \(holder) already holds \(what) (token \(s.fencing_token.map(String.init) ?? "-"), since \(Format.shortTime(s.acquired_at))): another batonctl with this holder is running, or one died less than its TTL ago"
                if wait {
                    if !announcedWait { Log.info("\(why); waiting"); announcedWait = true }
                    try? await Task.sleep(for: .milliseconds(Self.pollMs(s, timing)))
                    continue
                }
                Log.info("\(why); skipping (exit \(policy.skippedExit))")
                throw ExitCode(policy.skippedExit)
            case .conflict(let s):
                var why = "\(what) is held by \(s.holder ?? "?") (token \(s.fencing_token.map(String.init) ?? "-"), expires in \(Format.duration(ms: s.expires_in_ms)))"
                if s.holder == nil, let raw = client.rawJSON("acquireLeadership") as? [String: Any],
                   let reason = raw["reason"] as? String {
                    why = reason == "recovering"
                        ? "\(what) is not granted: Baton is recovering from lost Redis data until earlier tenures have run out"
                        : "\(what) is not granted (\(reason))"
                }
                if wait {
                    if !announcedWait { Log.info("\(why); waiting"); announcedWait = true }
                    // Held: a blocking read brings us back as soon as the tenure ends or expires.
                    // Vacant but refused (recovering): nothing will change the index, so sleep.
                    if let other = s.holder {
                        await waiter.waitWhileHeld(by: other, fallbackMs: Self.pollMs(s, timing))
                    } else {
                        try? await Task.sleep(for: .milliseconds(Self.pollMs(s, timing)))
                    }
                    continue
                }
                Log.info("\(why); not leader, skipping (exit \(policy.skippedExit))")
                throw ExitCode(policy.skippedExit)
            }

            try await lead(state: state, sent: sent, holder: holder, client: client, timing: timing)
        }
    }

    /// Applies --on-unavailable after a failure to reach Baton. Returns true to try again
    /// (--wait below the threshold); runs the command or throws the exit code otherwise.
    private func unavailable(_ why: String, breaker: ClientBreaker, client: BatonClient, holder: String,
                             timing: Timing) async throws -> Bool {
        switch policy.decide(after: why, breaker: breaker, url: client.baseURL, what: "lease \(lease)", waiting: wait) {
        case .runLocally:
            try await runWithoutBaton(command: command, environment: [
                "BATON_LEASE": lease, "BATON_HOLDER": holder, "BATON_FENCING_TOKEN": "", "BATON_MODE": "local",
            ], token: policy.tokenForChild(global), graceMs: timing.graceMs)
        case .retry:
            try? await Task.sleep(for: .milliseconds(min(timing.renewEveryMs, 2000)))
            return true
        case .giveUp:
            throw ExitCode(Exit.unavailable)
        }
    }

    static func pollMs(_ state: Schemas.LeaseState, _ timing: Timing) -> Int64 {
        var ms = min(timing.renewEveryMs, 2000)
        if let left = state.expires_in_ms { ms = min(ms, Int64(left) + 50) }
        return max(ms, 100)
    }

    private func lead(state: Schemas.LeaseState, sent: ContinuousClock.Instant, holder: String,
                      client: BatonClient, timing: Timing) async throws -> Never {
        let ttlMs = ttl.milliseconds
        let degraded = state.mode == .degraded
        let token = TokenBox(state.fencing_token)
        if degraded {
            Log.warn("Baton granted \(lease) in DEGRADED mode (its Redis is unreachable): no fencing token, another replica may lead at the same time")
        }
        let validMs = min(ttlMs, Int64(state.expires_in_ms ?? Int(ttlMs)))
        let lifeline = Lifeline(deadline: sent + .milliseconds(validMs - timing.marginMs))
        Log.info("leader of \(lease) as \(holder) (token \(state.fencing_token.map(String.init) ?? "none"), ttl \(ttl)): running \(command[0])")

        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(command: command, environment: ChildEnvironment.make([
                "BATON_LEASE": lease, "BATON_HOLDER": holder,
                "BATON_FENCING_TOKEN": state.fencing_token.map(String.init) ?? "",
                "BATON_MODE": degraded ? "degraded" : "normal",
            ], token: policy.tokenForChild(global)), graceMs: timing.graceMs)
        } catch {
            Log.info("\(error)")
            _ = try? await client.release(lease: lease, holder: holder, fencingToken: token.token)
            throw ExitCode(127)
        }

        let lease = self.lease
        let outcome = await Supervisor.supervise(child: child, lifeline: lifeline, timing: timing, what: "lease \(lease)") {
            do {
                switch try await client.renew(lease: lease, holder: holder, ttlMs: Int(ttlMs), fencingToken: token.token) {
                case .ok(let s):
                    return .kept(validForMs: min(ttlMs, Int64(s.expires_in_ms ?? Int(ttlMs))))
                case .conflict(let s):
                    if token.token == nil && s.holder == nil {
                        // A degraded tenure: Redis is back and knows nothing of it. Make it real.
                        if case .ok(let got) = try await client.acquire(lease: lease, holder: holder, ttlMs: Int(ttlMs)),
                           got.leader {
                            token.token = got.fencing_token
                            Log.info("Baton is back to normal: \(lease) is now a regular tenure (token \(got.fencing_token.map(String.init) ?? "none"))")
                            return .kept(validForMs: min(ttlMs, Int64(got.expires_in_ms ?? Int(ttlMs))))
                        }
                    }
                    if let other = s.holder { return .lost("now held by \(other), token \(s.fencing_token.map(String.init) ?? "-")") }
                    return .lost("it expired")
                }
            } catch BatonError.conflict(let why) {
                return .lost(why)
            } catch let error as BatonError {
                return .failed(error.description)
            } catch {
                return .failed(String(describing: error))
            }
        }

        switch outcome {
        case .exited(let code):
            await release(client: client, holder: holder, token: token.token)
            Log.info("\(command[0]) ended with \(describeExit(code)); released \(lease)")
            throw ExitCode(code)
        case .lost(let reason, let code):
            // Best effort: with the fencing token this cannot release someone else's tenure.
            await release(client: client, holder: holder, token: token.token, quiet: true)
            Log.info("\(reason); the command was stopped (\(describeExit(code))); exit \(Exit.lost)")
            throw ExitCode(Exit.lost)
        }
    }

    private func release(client: BatonClient, holder: String, token: Int64?, quiet: Bool = false) async {
        do {
            _ = try await client.release(lease: lease, holder: holder, fencingToken: token)
        } catch {
            if !quiet { Log.warn("could not release \(lease) (\(error)); it expires after its TTL") }
        }
    }
}
