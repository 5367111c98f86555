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
