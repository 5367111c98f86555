import CMicroHTTPD
import Synchronization

/// An answer that comes later: a handler returns ``HTTPResponse/deferred(_:)`` and calls
/// ``fulfill(_:)`` from any thread when the answer is known (a blocking read: a change, or
/// its wait ran out).
///
/// Meanwhile the server holds the request without a worker thread: libmicrohttpd suspends
/// the connection (`MHD_suspend_connection`, which 0.9.75 allows with an internal thread
/// pool when the daemon has `MHD_ALLOW_SUSPEND_RESUME`) and ``fulfill(_:)`` resumes it on its
/// worker. A suspended connection costs its libmicrohttpd connection struct, its socket and
/// this object — no thread, no poll slot. libmicrohttpd does not notice a client that hangs
/// up while suspended (microhttpd.h, `MHD_suspend_connection`), so every deferred answer
/// must be bounded in time by whoever made it.
public final class DeferredResponse: Sendable {
    enum State {
        /// Returned by the handler, the server has not suspended the connection yet.
        case waiting
        /// Suspended; the connection's address (an integer: OpaquePointer is not Sendable).
        case suspended(Int)
        /// The answer, to be queued by the server on its worker thread.
        case answered(HTTPResponse)
        /// Queued.
        case done
    }

    private let state = Mutex<State>(.waiting)

    /// Whether the request is counted (metrics: status, duration) when it is answered, not
    /// when it is held: an answer that is merely late (`POST /leader` through the Redis
    /// pipeline), not a blocking read whose held time is no request's latency.
    public let countsWhenAnswered: Bool

    private struct Watch {
        var answer: HTTPResponse?
        var body: (@Sendable (HTTPResponse) -> Void)?
    }
    private let watch = Mutex(Watch())

    public init(countsWhenAnswered: Bool = false) {
        self.countsWhenAnswered = countsWhenAnswered
    }

    /// Calls `body` once with the answer, on the thread that gives it, or at once when it is
    /// already given. One `body` per response.
    public func whenAnswered(_ body: @escaping @Sendable (HTTPResponse) -> Void) {
        let given: HTTPResponse? = watch.withLock { w in
            if let a = w.answer { return a }
            w.body = body
            return nil
        }
        if let given { body(given) }
    }

    /// Gives the answer. Returns false when there was one already (the first one wins).
    @discardableResult
    public func fulfill(_ response: HTTPResponse) -> Bool {
        let resume: Int? = state.withLock { s in
            switch s {
            case .waiting:
                s = .answered(response)
                return nil
            case .suspended(let connection):
                s = .answered(response)
                return connection
            case .answered, .done:
                return -1
            }
        }
        if resume == -1 { return false }
        let watcher: (@Sendable (HTTPResponse) -> Void)? = watch.withLock { w in
            w.answer = response
            defer { w.body = nil }
            return w.body
        }
        watcher?(response)
        if let resume { resumeConnection(resume) }
        return true
    }

    /// Whether an answer has been given.
    public var isAnswered: Bool {
        state.withLock { s in
            if case .waiting = s { return false }
            if case .suspended = s { return false }
            return true
        }
    }

    // MARK: - Server side (the connection's worker thread)

    /// Suspends the connection unless the answer is already there: `suspend` runs under the
    /// lock, so a ``fulfill(_:)`` on another thread resumes only a connection that is
    /// suspended (libmicrohttpd 0.9.75's `MHD_suspend_connection` takes the connection off the
    /// worker's lists at once, under its own cleanup mutex; `MHD_resume_connection` only marks
    /// it for the worker's next poll round, so resuming is safe right after this returns).
    /// Returns the answer to queue now, or nil when suspended.
    ///
    /// The check and the suspend must be one step: checked first and suspended after the lock
    /// was let go, an answer given in between found the state still waiting, was kept without
    /// a resume and the request hung (DeferredResponseTests: 5 of 2,400 requests unanswered
    /// after 3 s with that order, none with this one).
    func suspendUnlessAnswered(connection: Int, _ suspend: () -> Void) -> HTTPResponse? {
        state.withLock { s in
            if case .answered(let r) = s {
                s = .done
                return r
            }
            suspend()
            s = .suspended(connection)
            return nil
        }
    }

    /// The answer after a resume; nil if there is none (never expected).
    func take() -> HTTPResponse? {
        state.withLock { s in
            guard case .answered(let r) = s else { return nil }
            s = .done
            return r
        }
    }
}

/// Safe from any thread at any time for a suspended connection (microhttpd.h,
/// `MHD_resume_connection`); the state machine above calls it once per suspension.
private func resumeConnection(_ address: Int) {
    guard let raw = UnsafeMutableRawPointer(bitPattern: address) else { return }
    MHD_resume_connection(OpaquePointer(raw))
}
