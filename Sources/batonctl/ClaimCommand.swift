import ArgumentParser
import Foundation

struct ClaimOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The task's name.", valueName: "name"))
    var task: String

    @Option(help: ArgumentHelp("Schedule slot (e.g. the fire time): at most one completed run per task and slot.", valueName: "slot"))
    var slot: String?

    @Option(name: .customLong("at-most"), help: ArgumentHelp("The claim expires this long after the last extension if batonctl dies (lock_at_most).", valueName: "duration"))
    var atMost = CLIDuration(milliseconds: 3_600_000)

    @Option(name: .customLong("at-least"), help: ArgumentHelp("Keep a finished run's claim this long after it was taken (lock_at_least), so late replicas skip it.", valueName: "duration"))
    var atLeast = CLIDuration(milliseconds: 0)

    mutating func validate() throws {
        try Names.checkName(task, "--task")
        if let slot {
            guard !slot.isEmpty, slot.utf8.count <= 128, !slot.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                throw ValidationError("--slot must be 1-128 bytes without control characters")
            }
        }
        guard atMost.milliseconds >= 1000, atMost.milliseconds <= 604_800_000 else {
            throw ValidationError("--at-most must be from 1s to 7d")
        }
        guard atLeast.milliseconds <= atMost.milliseconds else {
            throw ValidationError("--at-least (\(atLeast)) must not exceed --at-most (\(atMost))")
        }
    }
}

/// A granted claim, or the reason there is none.
enum ClaimGate {
    case claimed(Schemas.ClaimState, sent: ContinuousClock.Instant)
    case runLocally
}

extension ClaimOptions {
    /// Claims the task, applying the skip and unavailability rules; throws ExitCode when
    /// nothing is to run.
    func obtain(client: BatonClient, holder: String, policy: RunPolicyOptions) async throws -> ClaimGate {
        let breaker = policy.breaker(key: "task-\(task)")
        let what = "task \(task)" + (slot.map { " slot \($0)" } ?? "")
        let sent = ContinuousClock().now
        let answer: Answer<Schemas.ClaimState>
        do {
            answer = try await client.claim(task: task, holder: holder, slot: slot,
                                            atMostMs: Int(atMost.milliseconds), atLeastMs: Int(atLeast.milliseconds))
        } catch BatonError.unavailable(let why) {
            switch policy.decide(after: why, breaker: breaker, url: client.baseURL, what: "task \(task)", waiting: false) {
            case .runLocally: return .runLocally
            case .retry, .giveUp: throw ExitCode(Exit.unavailable)
            }
        } catch BatonError.conflict(let why) {
            breaker.recordSuccess()
            Log.info("not running \(what): \(why) (exit \(policy.skippedExit))")
            throw ExitCode(policy.skippedExit)
        } catch let error as BatonError {
            Log.info("\(error)")
            throw ExitCode(Exit.error)
        }
        breaker.recordSuccess()
        switch answer {
        case .ok(let c) where c.claimed && c.run_id != nil:
            if c.mode == .degraded {
                Log.warn("Baton granted \(what) in DEGRADED mode (its Redis is unreachable): another replica may run it too")
            }
            return .claimed(c, sent: sent)
        case .ok(let c), .conflict(let c):
            Log.info("not running \(what): \(Self.explain(c)) (exit \(policy.skippedExit))")
            throw ExitCode(policy.skippedExit)
        }
    }

    static func explain(_ c: Schemas.ClaimState) -> String {
        let by = c.holder.map { " by \($0)" } ?? ""
        // By raw value: newer contracts add reasons (a switch over the generated enum would
        // stop compiling, or stop being exhaustive, when the spec grows).
        switch c.reason?.rawValue {
        case "held":
            return "already running\(by) (run \(c.run_id ?? "?"), claim expires in \(Format.duration(ms: c.expires_in_ms)))"
        case "slot_done":
            return "this slot already ran\(by)"
        case "recently_completed":
            return "completed recently\(by) (claimed \(Format.ago(c.claimed_at)), kept for another \(Format.duration(ms: c.expires_in_ms)))"
        case "recovering":
            return "Baton is recovering from lost Redis data and grants no claim until earlier ones have run out"
        case let other?:
            return "refused (\(other))"
        case nil:
            return "not claimed"
        }
    }

    /// The keep-alive for a running claim: POST /tasks/extend.
    func extender(client: BatonClient, runId: String, holder: String) -> @Sendable () async -> KeepAliveResult {
        let task = self.task
        let atMostMs = atMost.milliseconds
        return {
            do {
                switch try await client.extend(task: task, runId: runId, holder: holder, atMostMs: Int(atMostMs)) {
                case .ok(let c):
                    return .kept(validForMs: min(atMostMs, Int64(c.expires_in_ms ?? Int(atMostMs))))
                case .conflict(let c):
                    if let other = c.holder, c.run_id != runId { return .lost("now held by \(other), run \(c.run_id ?? "?")") }
                    return .lost("the claim expired")
                }
            } catch BatonError.conflict(let why) {
                return .lost(why)
            } catch let error as BatonError {
                return .failed(error.description)
            } catch {
                return .failed(String(describing: error))
            }
        }
    }

    /// POST /tasks/complete, retried a few times while Baton is unavailable.
    func complete(client: BatonClient, runId: String, holder: String, status: Schemas.CompletionStatus,
                  detail: String, attempts: Int = 3) async {
        for attempt in 1...attempts {
            do {
                switch try await client.complete(task: task, runId: runId, holder: holder, status: status,
                                                  detail: Format.utf8Prefix(detail, maxBytes: 4096)) {
                case .ok:
                    return
                case .conflict(let c):
                    let now = c.current.map { " (now held by \($0.holder ?? "?"))" } ?? ""
                    Log.warn("completed \(task) late: the claim had already expired\(now); the run is recorded, it may have overlapped another run")
                    return
                }
            } catch BatonError.unavailable(let why) where attempt < attempts {
                Log.warn("could not complete \(task) (\(why)); retrying")
                try? await Task.sleep(for: .seconds(1))
            } catch {
                Log.warn("could not complete \(task) run \(runId) (\(error)); the claim expires after --at-most (\(atMost))")
                return
            }
        }
    }
}

struct ClaimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claim",
        abstract: "Run a command once across replicas: claim the task (and slot), run it, record the result.",
        discussion: """
        Claims the task (POST /tasks/claim), runs the command, extends the claim every \
        at-most/3 (POST /tasks/extend) and completes it with 'succeeded' (exit code 0) or \
        'failed' (any other code), the exit code as the detail. If batonctl is stopped by a \
        signal the run is completed as 'cancelled', which does not use up its slot.

        When the claim is lost, or cannot be extended before the local deadline (last \
        successful extension + at-most - margin), the command's process group gets SIGTERM \
        and SIGKILL after --grace; exit 76.

        The command gets BATON_TASK, BATON_RUN_ID, BATON_SLOT, BATON_HOLDER, \
        BATON_FENCING_TOKEN and BATON_MODE.

        \(Exit.helpText)
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var claim: ClaimOptions
    @OptionGroup var policy: RunPolicyOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command, after --.", valueName: "command"))
    var command: [String] = []

    mutating func validate() throws {
        try Names.checkHolder(global.resolvedHolder)
        guard !command.isEmpty else { throw ValidationError("no command: put it after --, e.g. batonctl claim --task T -- ./job.sh") }
        let timing = Timing(periodMs: claim.atMost.milliseconds, graceMs: policy.grace?.milliseconds)
        guard timing.marginMs + timing.renewEveryMs < claim.atMost.milliseconds else {
            throw ValidationError("--grace is too long for --at-most \(claim.atMost)")
        }
    }

    func run() async throws {
        SignalCatcher.shared.install()
        let holder = global.resolvedHolder
        let timing = Timing(periodMs: claim.atMost.milliseconds, graceMs: policy.grace?.milliseconds)
        let client = try global.client(timeout: CLIDuration(milliseconds: timing.requestTimeoutMs(limit: global.timeout.milliseconds)))
        let task = claim.task

        let state: Schemas.ClaimState
        let sent: ContinuousClock.Instant
        switch try await claim.obtain(client: client, holder: holder, policy: policy) {
        case .runLocally:
            try await runWithoutBaton(command: command, environment: [
                "BATON_TASK": task, "BATON_RUN_ID": "", "BATON_SLOT": claim.slot ?? "", "BATON_HOLDER": holder,
                "BATON_FENCING_TOKEN": "", "BATON_MODE": "local",
            ], token: policy.tokenForChild(global), graceMs: timing.graceMs)
        case .claimed(let c, let at):
            state = c
            sent = at
        }
        let runId = state.run_id ?? ""
        let atMostMs = claim.atMost.milliseconds
        let validMs = min(atMostMs, Int64(state.expires_in_ms ?? Int(atMostMs)))
        let lifeline = Lifeline(deadline: sent + .milliseconds(validMs - timing.marginMs))
        Log.info("claimed \(task)\(claim.slot.map { " slot \($0)" } ?? "") as \(holder) (run \(runId), token \(state.fencing_token.map(String.init) ?? "none")): running \(command[0])")

        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(command: command, environment: ChildEnvironment.make([
                "BATON_TASK": task, "BATON_RUN_ID": runId, "BATON_SLOT": claim.slot ?? "", "BATON_HOLDER": holder,
                "BATON_FENCING_TOKEN": state.fencing_token.map(String.init) ?? "",
                "BATON_MODE": state.mode == .degraded ? "degraded" : "normal",
            ], token: policy.tokenForChild(global)), graceMs: timing.graceMs)
        } catch {
            Log.info("\(error)")
            await claim.complete(client: client, runId: runId, holder: holder, status: .cancelled, detail: "\(error)")
            throw ExitCode(127)
        }

        let outcome = await Supervisor.supervise(
            child: child, lifeline: lifeline, timing: timing, what: "claim on \(task)",
            keepAlive: claim.extender(client: client, runId: runId, holder: holder))

        switch outcome {
        case .exited(let code):
            if let sig = SignalCatcher.shared.signal {
                await claim.complete(client: client, runId: runId, holder: holder, status: .cancelled,
                                     detail: "batonctl got signal \(sig); \(describeExit(code))")
                Log.info("\(command[0]) was interrupted (\(describeExit(code))); recorded as cancelled")
            } else {
                await claim.complete(client: client, runId: runId, holder: holder,
                                     status: code == 0 ? .succeeded : .failed, detail: describeExit(code))
                Log.info("\(command[0]) ended with \(describeExit(code)); recorded as \(code == 0 ? "succeeded" : "failed")")
            }
            throw ExitCode(code)
        case .lost(let reason, let code):
            await claim.complete(client: client, runId: runId, holder: holder, status: .cancelled,
                                 detail: "\(reason); command killed (\(describeExit(code)))", attempts: 1)
            Log.info("\(reason); the command was stopped (\(describeExit(code))); exit \(Exit.lost)")
            throw ExitCode(Exit.lost)
        }
    }
}
