import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
