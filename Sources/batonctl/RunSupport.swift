import ArgumentParser
import Foundation

/// What to do after Baton could not be reached for a lease or claim.
enum UnavailableDecision: Equatable {
    /// Run the command anyway, without coordination.
    case runLocally
    /// Try again (only with --wait, below the threshold).
    case retry
    /// Give up with exit code 69.
    case giveUp
}

extension RunPolicyOptions {
    /// Counts the failure in the state file and applies --on-unavailable.
    func decide(after why: String, breaker: ClientBreaker, url: String, what: String, waiting: Bool) -> UnavailableDecision {
        let count = breaker.recordFailure(why)
        let threshold = breakerThreshold
        if count >= threshold {
            switch onUnavailable {
            case .run:
                Log.loud([
                    "Baton at \(url) is unavailable (\(why)),",
                    "\(count) consecutive failures for \(what) (threshold \(threshold)).",
                    "RUNNING THE COMMAND WITHOUT COORDINATION (--on-unavailable run):",
                    "another replica may be running it at the same time.",
                ])
                return .runLocally
            case .skip:
                Log.info("Baton at \(url) is unavailable (\(why)); \(count) consecutive failures for \(what); --on-unavailable skip: not running the command (exit \(Exit.unavailable))")
                return .giveUp
            }
        }
        if waiting {
            Log.info("Baton at \(url) is unavailable (\(why)); failure \(count) of \(threshold) for \(what); still waiting")
            return .retry
        }
        let then = onUnavailable == .run
            ? "from failure \(threshold) on, the command runs without Baton"
            : "--on-unavailable skip"
        Log.info("Baton at \(url) is unavailable (\(why)); failure \(count) of \(threshold) for \(what) (\(then)); not running the command now (exit \(Exit.unavailable))")
        return .giveUp
    }

    func graceMs(periodMs: Int64) -> Int64? { grace?.milliseconds }
}

/// The command's environment: batonctl's own, without the Baton API token (the command
/// is not Baton's client: a token in its environment is one `env` or crash dump away from
/// its logs), plus the lease or claim variables. `token` (from `--pass-token`) puts the
/// token batonctl used back as BATON_TOKEN.
enum ChildEnvironment {
    static let tokenVariables = ["BATON_TOKEN", "BATON_TOKEN_FILE"]

    static func make(_ extra: [String: String], token: String? = nil,
                     base: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var env = base
        for name in tokenVariables { env[name] = nil }
        for (k, v) in extra { env[k] = v }
        if let token { env["BATON_TOKEN"] = token }
        return env
    }
}

func describeExit(_ code: Int32) -> String {
    if code > 128 && code < 160 {
        return "exit code \(code) (signal \(code - 128))"
    }
    return "exit code \(code)"
}

/// Starts the command and waits for it without a lease or claim (Baton unavailable).
func runWithoutBaton(command: [String], environment: [String: String], token: String?, graceMs: Int64) async throws -> Never {
    let child: ChildProcess
    do {
        child = try ChildProcess.spawn(command: command, environment: ChildEnvironment.make(environment, token: token), graceMs: graceMs)
    } catch {
        Log.info("\(error)")
        throw ExitCode(127)
    }
    let code = await Supervisor.runUncoordinated(child: child, graceMs: graceMs)
    Log.info("the command ran without Baton and ended with \(describeExit(code))")
    throw ExitCode(code)
}
