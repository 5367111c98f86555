import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a supervised command ended.
enum RunOutcome: Sendable, Equatable {
    /// It exited on its own (or after a signal batonctl relayed): its exit code.
    case exited(Int32)
    /// The lease or claim was lost or could not be renewed in time: it was killed.
    case lost(reason: String, exitCode: Int32)
}

/// Runs a command under a lease or claim: keeps it alive, stops the command when lost.
enum Supervisor {
    /// Keeps `keepAlive` going every `timing.renewEveryMs` while `child` runs, and stops
    /// the child (SIGTERM, SIGKILL after the grace period) when the lease or claim is
    /// lost, or when the local deadline passes without a successful renewal.
    static func supervise(
        child: ChildProcess,
        lifeline: Lifeline,
        timing: Timing,
        what: String,
        keepAlive: @escaping @Sendable () async -> KeepAliveResult
    ) async -> RunOutcome {
        let clock = ContinuousClock()
        let renewer = startRenewer(lifeline: lifeline, timing: timing, what: what, keepAlive: keepAlive)
        defer { renewer.cancel() }

        var stopReason: String?
        var termSentAt: ContinuousClock.Instant?
        var killSent = false
        var relayedSignal = false
        while true {
            if let code = child.exitCode {
                // Whatever the command left running in its group goes with it.
                child.signalGroup(killSent ? SIGKILL : SIGTERM)
                if let reason = stopReason { return .lost(reason: reason, exitCode: code) }
                return .exited(code)
            }
            let now = clock.now
            if stopReason == nil {
                if let why = lifeline.lost {
                    stopReason = "the \(what) was lost (\(why))"
                } else if now >= lifeline.deadline {
                    stopReason = "the \(what) could not be renewed in time (\(lifeline.lastFailure ?? "no answer"))"
                }
                if let reason = stopReason {
                    Log.loud(["\(reason):", "stopping the command (SIGTERM, SIGKILL after \(Format.duration(ms: timing.graceMs)))"])
                    child.signalGuard(SIGTERM)
                    termSentAt = termSentAt ?? now
                }
            }
            if !relayedSignal, let sig = SignalCatcher.shared.signal {
                relayedSignal = true
                Log.info("got signal \(sig): passing it on to the command (SIGKILL after \(Format.duration(ms: timing.graceMs)))")
                child.signalGuard(sig)
                termSentAt = termSentAt ?? now
            }
            if let since = termSentAt, !killSent, now - since >= .milliseconds(timing.graceMs + 200) {
                // The guard should have done it; this is the backstop.
                killSent = true
                child.signalGroup(SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Renews or extends every `timing.renewEveryMs` (sooner after a failure), moving the
    /// lifeline's deadline on success and marking it lost on a 409.
    static func startRenewer(lifeline: Lifeline, timing: Timing, what: String,
                             keepAlive: @escaping @Sendable () async -> KeepAliveResult) -> Task<Void, Never> {
        let clock = ContinuousClock()
        return Task {
            var next = clock.now + .milliseconds(timing.renewEveryMs)
            while !Task.isCancelled {
                try? await Task.sleep(until: next, clock: clock)
                if Task.isCancelled { return }
                let sent = clock.now
                switch await keepAlive() {
                case .kept(let validMs):
                    lifeline.extend(to: sent + .milliseconds(validMs - timing.marginMs))
                    next = sent + .milliseconds(timing.renewEveryMs)
                case .lost(let why):
                    lifeline.markLost(why)
                    return
                case .failed(let why):
                    if Task.isCancelled { return }
                    lifeline.noteFailure(why)
                    let left = lifeline.deadline - clock.now
                    Log.warn("could not renew the \(what) (\(why)); \(left > .zero ? "retrying; the command is stopped in \(Format.duration(ms: left.milliseconds)) unless a renewal succeeds" : "stopping the command")")
                    next = clock.now + .milliseconds(timing.retryEveryMs)
                }
            }
        }
    }

    /// Runs `command` with no lease (Baton unavailable, policy run) and waits for it.
    static func runUncoordinated(child: ChildProcess, graceMs: Int64) async -> Int32 {
        let clock = ContinuousClock()
        var termSentAt: ContinuousClock.Instant?
        var killSent = false
        while true {
            if let code = child.exitCode {
                child.signalGroup(SIGTERM)
                return code
            }
            if termSentAt == nil, let sig = SignalCatcher.shared.signal {
                child.signalGuard(sig)
                termSentAt = clock.now
            }
            if let since = termSentAt, !killSent, clock.now - since >= .milliseconds(graceMs + 200) {
                killSent = true
                child.signalGroup(SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
