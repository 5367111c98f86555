public import BatonSupport
import Synchronization

/// A per-backend circuit breaker.
///
/// Closed: every call goes to the backend; failures are counted, a success resets the
/// count. After `threshold` consecutive failures it opens: calls are not attempted and
/// the caller applies its ``FailurePolicy``. After `cooldownMs` exactly one call is let
/// through as a probe (half-open); its success closes the breaker, its failure opens it
/// for another cooldown. Only ``BackendError``s count; logical answers do not, and
/// neither does a ``Misconfiguration``: the server answered, so it is reachable (the
/// breaker closes) and the caller gets a 503 naming the fix, never a degraded grant.
public final class CircuitBreaker: Sendable {
    /// The breaker's position, as shown in `/status` and `/metrics`.
    public enum State: String, Sendable {
        case closed, open
        case halfOpen = "half_open"
    }

    /// The result of one guarded call.
    public enum Outcome<Value> {
        /// The backend answered.
        case success(Value)
        /// The backend failed; `opened` tells whether the breaker is open now.
        case failure(BackendError, opened: Bool)
        /// The breaker is open: the backend was not called.
        case rejected
    }

    /// A point-in-time view for status pages.
    public struct Snapshot: Sendable {
        public let backend: Backend
        public let state: State
        public let consecutiveFailures: Int
        public let totalFailures: Int
        public let timesOpened: Int
        public let lastError: String?
    }

    /// A change of state, for the incident page's degraded-mode shading.
    public struct Transition: Sendable, Equatable {
        /// Wall-clock milliseconds since the Unix epoch.
        public let atMs: Int64
        public let state: State
        public init(atMs: Int64, state: State) {
            self.atMs = atMs
            self.state = state
        }
    }

    /// Most transitions kept (a ring: the oldest go first). A breaker flapping every
    /// cooldown (5 s) fills 256 entries in about 10 minutes; a real outage opens once.
    public static let transitionCapacity = 256

    private struct Inner {
        var state: State = .closed
        var consecutiveFailures = 0
        var openedAtMs: Int64 = 0
        var totalFailures = 0
        var timesOpened = 0
        var lastError: String?
        /// ``allowProbeNow()`` was called: the next call may probe without waiting.
        var probeNow = false
        var transitions: [Transition] = []

        mutating func move(to new: State, atMs: Int64) {
            guard new != state else { return }
            state = new
            if transitions.count >= CircuitBreaker.transitionCapacity { transitions.removeFirst() }
            transitions.append(Transition(atMs: atMs, state: new))
        }
    }

    public let backend: Backend
    public let threshold: Int
    public let cooldownMs: Int64
    private let clock: any Clock
    private let inner = Mutex(Inner())

    public init(backend: Backend, threshold: Int = 3, cooldownMs: Int64 = 5_000, clock: any Clock = SystemClock()) {
        precondition(threshold >= 1, "threshold must be at least 1")
        self.backend = backend
        self.threshold = threshold
        self.cooldownMs = cooldownMs
        self.clock = clock
    }

    /// Runs `body` unless the breaker is open, and records its result (not inside
    /// ``uncounted(_:)``: then only a closed breaker lets it through, and nothing is recorded).
    public func run<Value>(_ body: () throws(BackendError) -> Value) -> Outcome<Value> {
        if uncountedCalls.isOn {
            guard state == .closed else { return .rejected }
            do { return .success(try body()) } catch { return .failure(error, opened: false) }
        }
        guard let call = start() else { return .rejected }
        do throws(BackendError) {
            return finish(call, .success(try body()))
        } catch {
            return finish(call, .failure(error))
        }
    }

    /// A call let through by ``start()``, to be recorded by ``finish(_:_:)``.
    public struct Call: Sendable {
        /// Whether the call is the probe of a half-open breaker.
        let isProbe: Bool
    }

    /// The first half of ``run(_:)``, for a call answered later on another thread (the
    /// asynchronous `POST /leader`): nil when the breaker lets no call through now.
    public func start() -> Call? {
        admit().map(Call.init(isProbe:))
    }

    /// The second half: records the result of a call ``start()`` let through, as
    /// ``run(_:)`` does. Every started call must be finished (a probe left unfinished keeps
    /// the breaker half-open).
    public func finish<Value>(_ call: Call, _ result: Result<Value, BackendError>) -> Outcome<Value> {
        switch result {
        case .success(let value):
            let wall = clock.wallMs()
            inner.withLock { s in
                s.move(to: .closed, atMs: wall)
                s.consecutiveFailures = 0
            }
            return .success(value)
        case .failure(let error) where error.kind == .misconfigured:
            let wall = clock.wallMs()
            inner.withLock { s in
                s.move(to: .closed, atMs: wall)
                s.consecutiveFailures = 0
                s.lastError = error.description
            }
            return .failure(error, opened: false)
        case .failure(let error):
            return .failure(error, opened: recordFailure(error, probe: call.isProbe))
        }
    }

    /// Whether a call may go to the backend now; nil when it may not, else whether it is the probe.
    private func admit() -> Bool? {
        let now = clock.monotonicMs(), wall = clock.wallMs()
        return inner.withLock { s -> Bool? in
            switch s.state {
            case .closed:
                return false
            case .halfOpen:
                return nil  // a probe is already in flight
            case .open:
                guard now - s.openedAtMs >= cooldownMs || s.probeNow else { return nil }
                s.probeNow = false
                s.move(to: .halfOpen, atMs: wall)
                return true
            }
        }
    }

    private func recordFailure(_ error: BackendError, probe: Bool) -> Bool {
        let now = clock.monotonicMs(), wall = clock.wallMs()
        return inner.withLock { s in
            s.totalFailures += 1
            s.lastError = error.description
            s.consecutiveFailures += 1
            if probe || s.state == .open || s.consecutiveFailures >= threshold {
                if s.state != .open { s.timesOpened += (s.state == .halfOpen ? 0 : 1) }
                s.move(to: .open, atMs: wall)
                s.openedAtMs = now
                return true
            }
            return false
        }
    }

    /// Lets the next call through as a probe now instead of after the cooldown: the
    /// backend is known to be back (Sentinel named a new master), and every moment the
    /// breaker stays open would be a fallback answer while a master is reachable.
    ///
    /// A probe already in flight (half-open) was sent to the old backend: when it fails, the
    /// next call probes at once instead of after another cooldown (measured in
    /// chaos/sentinel.py: otherwise up to 1.1 s of degraded grants after a promotion).
    public func allowProbeNow() {
        inner.withLock { s in
            if s.state != .closed { s.probeNow = true }
        }
    }

    /// Runs `body` with the calling thread's breaker calls left out of every breaker's count:
    /// they reach the backend only while its breaker is closed (never as the probe), and
    /// neither a failure nor a success moves it.
    ///
    /// For reads that are not a client's request, or that come on top of one that is
    /// counted: a blocking read's change index, and the watch dispatcher re-reading what
    /// changed. Counted, a lost Redis answered by N held reads of N resources opened the
    /// breaker at once (2N failures in a burst, no client request among them), and the
    /// degraded grants began before a single caller had seen a 503 (openapi/live-check.sh's
    /// outage probes, 2026-12-01). A plain read counts once; so does a blocking read.
    public static func uncounted<T>(_ body: () throws(BackendError) -> T) throws(BackendError) -> T {
        let was = uncountedCalls.isOn
        uncountedCalls.isOn = true
        defer { uncountedCalls.isOn = was }
        return try body()
    }

    /// ``uncounted(_:)`` for a body that does not throw.
    public static func uncounted<T>(_ body: () -> T) -> T {
        let was = uncountedCalls.isOn
        uncountedCalls.isOn = true
        defer { uncountedCalls.isOn = was }
        return body()
    }

    /// The current state.
    public var state: State { inner.withLock { $0.state } }

    /// State changes, oldest first (at most ``transitionCapacity``; this process only).
    public func transitions() -> [Transition] { inner.withLock { $0.transitions } }

    /// A consistent view of the counters.
    public func snapshot() -> Snapshot {
        inner.withLock { s in
            Snapshot(backend: backend, state: s.state, consecutiveFailures: s.consecutiveFailures,
                     totalFailures: s.totalFailures, timesOpened: s.timesOpened, lastError: s.lastError)
        }
    }
}

/// Whether the calling thread is inside ``CircuitBreaker/uncounted(_:)``.
private let uncountedCalls = ThreadFlag()
