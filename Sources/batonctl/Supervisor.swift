import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Signals batonctl itself receives while a command runs (SIGINT, SIGTERM, SIGHUP): they
/// are relayed to the command, which is then given the grace period to stop.
final class SignalCatcher: Sendable {
    private struct State {
        var received: Int32?
        var sources: [DispatchSourceSignal] = []
    }
    private let state = Mutex(State())

    static let shared = SignalCatcher()

    /// Starts catching (idempotent).
    func install() {
        state.withLock { s in
            guard s.sources.isEmpty else { return }
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                _ = Glibc.signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { [weak self] in self?.set(sig) }
                source.resume()
                s.sources.append(source)
            }
        }
    }

    private func set(_ sig: Int32) {
        state.withLock { s in if s.received == nil { s.received = sig } }
    }

    var signal: Int32? { state.withLock { $0.received } }
}

/// What a keep-alive call (lease renewal, claim extension) found.
enum KeepAliveResult: Sendable {
    /// Still ours for this long, counted from when the request was sent.
    case kept(validForMs: Int64)
    /// Someone else has it now, or it expired.
    case lost(String)
    /// No answer (Baton unavailable) or an answer that is not a yes: try again.
    case failed(String)
}

/// The timing of one supervised run, derived from the lease TTL or claim duration.
struct Timing: Sendable, Equatable {
    /// The TTL (lease) or lock-at-most (claim).
    var periodMs: Int64
    /// SIGTERM to SIGKILL.
    var graceMs: Int64
    /// Kept between the SIGKILL and the server-side expiry.
    var safetyMs: Int64
    /// Renew or extend this often.
    var renewEveryMs: Int64
    /// After a failed renewal, try again this soon.
    var retryEveryMs: Int64

    init(periodMs: Int64, graceMs: Int64? = nil) {
        self.periodMs = periodMs
        self.graceMs = graceMs ?? min(5000, periodMs / 6)
        self.safetyMs = min(1000, periodMs / 10)
        self.renewEveryMs = max(periodMs / 3, 100)
        self.retryEveryMs = max(200, min(1000, periodMs / 10))
    }

    /// SIGTERM this long before the lease or claim would expire (so the SIGKILL, if
    /// needed, still lands `safetyMs` before it).
    var marginMs: Int64 { graceMs + safetyMs }

    /// A renewal's timeout: no longer than the renewal interval, so a stalled request
    /// leaves room for a retry before the deadline.
    func requestTimeoutMs(limit: Int64) -> Int64 {
        max(300, min(limit, renewEveryMs))
    }
}

/// The local, monotonic deadline of a lease or claim, moved by each successful renewal.
final class Lifeline: Sendable {
    private struct State {
        var deadline: ContinuousClock.Instant
        var lost: String?
        var lastFailure: String?
    }
    private let state: Mutex<State>

    init(deadline: ContinuousClock.Instant) { state = Mutex(State(deadline: deadline)) }

    var deadline: ContinuousClock.Instant { state.withLock { $0.deadline } }

    var lost: String? { state.withLock { $0.lost } }

    var lastFailure: String? { state.withLock { $0.lastFailure } }

    func extend(to instant: ContinuousClock.Instant) {
        state.withLock { s in
            if instant > s.deadline { s.deadline = instant }
            s.lastFailure = nil
        }
    }

    func markLost(_ why: String) {
        state.withLock { s in if s.lost == nil { s.lost = why } }
    }

    func noteFailure(_ why: String) {
        state.withLock { $0.lastFailure = why }
    }
}

/// How a supervised command ended.
enum RunOutcome: Sendable, Equatable {
    /// It exited on its own (or after a signal batonctl relayed): its exit code.
    case exited(Int32)
    /// The lease or claim was lost or could not be renewed in time: it was killed.
    case lost(reason: String, exitCode: Int32)
}

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

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
