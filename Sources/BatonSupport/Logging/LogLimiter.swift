import Synchronization

/// Lets at most `limit` lines through per window and counts the rest, so a flood of one
/// kind of event (connections cut during an attack, rows dropped by a full outbox) costs a
/// few lines a minute instead of one each, and still says how many there were.
public final class LogLimiter: Sendable {
    private struct State {
        var windowStartMs: Int64?
        var admitted = 0
        var suppressed = 0
    }

    private let limit: Int
    private let windowMs: Int64
    private let clock: any Clock
    private let state = Mutex(State())

    public init(limit: Int = 10, windowMs: Int64 = 60_000, clock: any Clock = SystemClock()) {
        self.limit = limit
        self.windowMs = windowMs
        self.clock = clock
    }

    /// nil: leave this line out. Otherwise log it, with the number of lines left out
    /// since the last one let through (usually 0).
    public func admit() -> Int? {
        let now = clock.monotonicMs()
        return state.withLock { s -> Int? in
            if s.windowStartMs.map({ now - $0 >= windowMs }) ?? true {
                s.windowStartMs = now
                s.admitted = 0
            }
            guard s.admitted < limit else {
                s.suppressed += 1
                return nil
            }
            s.admitted += 1
            defer { s.suppressed = 0 }
            return s.suppressed
        }
    }
}
