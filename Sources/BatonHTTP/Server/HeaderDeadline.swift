import BatonSupport
import CMHDShim
import CMicroHTTPD
import Glibc
import Synchronization

/// Closes connections whose request headers, then whose body, are not complete in time
/// (slowloris, and its slow-body variant), and those whose answer is not read in time
/// (slow readers).
///
/// libmicrohttpd's connection timeout counts *inactivity*: a client that sends a header
/// byte every few seconds is never idle and would hold its connection (and a slot of the
/// connection limit) forever. So every connection carries a deadline, and a reaper thread
/// `shutdown(2)`s the socket of each connection past it; libmicrohttpd then sees the
/// hang-up and closes the connection as usual (no answer is sent, as nginx does for its
/// `client_header_timeout`).
///
/// When the clock runs (`D` is the header timeout, `I` the idle timeout):
/// - connection opened: the first request's line and headers must be in by open + `D`
///   (clients send the request right after connecting, so this is "from the first byte");
/// - headers complete (first call of the access handler): the body (at most the body limit,
///   64 KiB in batond) must be in by then + `D`;
/// - body complete (the handler is about to run, or an early 413): no deadline while the
///   handler runs (its backends have their own timeouts);
/// - answer queued: it must have been read by then + `D`. libmicrohttpd's idle timeout
///   restarts on every byte the client reads, so a client reading 64 B every 3 s kept its
///   connection (and the answer's copy) 75 s and counting; 1,500 of them added 38 MB RSS
///   (attack review, issue 15). An answer of batond is at most a few hundred KB: `D`
///   (10 s) allows a reader of about 30 KB/s for the largest;
/// - request completed, connection kept alive: the next request must have its headers in
///   by completion + `I` + `D`. A silent keep-alive connection is closed by the idle timeout
///   at completion + `I`, before this deadline, so an idle keep-alive connection is never
///   cut by it however long it has been open; the deadline only catches a connection that
///   keeps trickling bytes of a request that never completes;
/// - request line received (`MHD_OPTION_URI_LOG_CALLBACK`): the deadline becomes at most
///   now + `D`, so a keep-alive request that has started gets `D` for its headers, as the
///   first one does. (Before its line is complete a request cannot be told from idle
///   bytes, hence the `I` + `D` bound above.)
///
/// The reaper always applies the deadline, not only when the connection limit is getting
/// full: no legitimate client needs 10 s to send a few hundred bytes of headers (batond sits
/// behind an ingress that forwards complete requests), while a limit-dependent rule would
/// let slow clients hold up to the threshold's worth of connections indefinitely and make
/// the behaviour depend on load. The cost is one wake-up per interval and a scan of the
/// open connections.
final class HeaderDeadline: Sendable {
    let timeoutNs: UInt64
    let idleNs: UInt64
    /// Open connections, by identity. A clock is added when libmicrohttpd opens a connection
    /// and removed in its close notification, which 0.9.75 makes *before* it closes the
    /// descriptor (daemon.c: `MHD_cleanup_connections` and the error path of
    /// `new_connection_process_`). The reaper calls `shutdown` only while holding this lock,
    /// so the descriptor it shuts down is still open and still this connection's.
    private let open = Mutex<[ObjectIdentifier: ConnectionClock]>([:])
    /// Connections shut down for missing the deadline, since start.
    let closed = Atomic<Int>(0)
    private let reaper = Mutex<Reaper?>(nil)
    /// Most connections open since the heap was last trimmed (see ``trimIfDrained()``).
    private let peakOpen = Atomic<Int>(0)
    /// Times the heap was trimmed after many connections closed.
    let trims = Atomic<Int>(0)

    init(timeoutMs: Int, idleSeconds: Int) {
        timeoutNs = UInt64(max(0, timeoutMs)) * 1_000_000
        idleNs = UInt64(max(0, idleSeconds)) * 1_000_000_000
    }

    var enabled: Bool { timeoutNs > 0 }

    // MARK: - libmicrohttpd notifications (each on the connection's worker thread)

    func opened(fd: Int32) -> ConnectionClock {
        let clock = ConnectionClock(fd: fd, deadlineNs: MonotonicClock.nanoseconds() &+ timeoutNs)
        let count = open.withLock { o -> Int in
            o[ObjectIdentifier(clock)] = clock
            return o.count
        }
        if count > peakOpen.load(ordering: .relaxed) { peakOpen.store(count, ordering: .relaxed) }
        return clock
    }

    func closed(_ clock: ConnectionClock) {
        _ = open.withLock { $0.removeValue(forKey: ObjectIdentifier(clock)) }
    }

    func requestLineReceived(_ clock: ConnectionClock) {
        let limit = MonotonicClock.nanoseconds() &+ timeoutNs
        if clock.deadlineNs.load(ordering: .relaxed) > limit { clock.deadlineNs.store(limit, ordering: .relaxed) }
    }

    func headersComplete(_ clock: ConnectionClock) {
        clock.deadlineNs.store(MonotonicClock.nanoseconds() &+ timeoutNs, ordering: .relaxed)
    }

    func answering(_ clock: ConnectionClock) {
        clock.deadlineNs.store(.max, ordering: .relaxed)
    }

    /// The answer is queued: the client has `D` to read it.
    func sending(_ clock: ConnectionClock) {
        clock.answerQueued.store(true, ordering: .relaxed)
        clock.deadlineNs.store(MonotonicClock.nanoseconds() &+ timeoutNs, ordering: .relaxed)
    }

    func requestCompleted(_ clock: ConnectionClock) {
        clock.answerQueued.store(false, ordering: .relaxed)
        clock.deadlineNs.store(MonotonicClock.nanoseconds() &+ idleNs &+ timeoutNs, ordering: .relaxed)
    }

    /// Connections open now (for tests and diagnostics).
    var openCount: Int { open.withLock { $0.count } }

    // MARK: - Reaper

    /// Shuts down every connection past its deadline; returns how many.
    @discardableResult
    func reap(now: UInt64 = MonotonicClock.nanoseconds()) -> Int {
        var count = 0
        open.withLock { connections in
            for clock in connections.values {
                let deadline = clock.deadlineNs.load(ordering: .relaxed)
                guard deadline <= now else { continue }
                // Only if no worker moved the deadline meanwhile (headers completed just now).
                guard clock.deadlineNs.compareExchange(expected: deadline, desired: .max, ordering: .relaxed).exchanged else { continue }
                // Counted first, so that anyone who sees the connection close also sees the count.
                closed.add(1, ordering: .relaxed)
                // A slow reader: linger 0, so that when libmicrohttpd closes the socket the
                // kernel drops what is still queued for it (up to several MB on loopback) and
                // sends a reset, instead of trickling it on from an orphaned socket. (A slow
                // sender gets the usual FIN: it sees the end before its next write.)
                if clock.answerQueued.load(ordering: .relaxed) {
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    _ = setsockopt(clock.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                }
                if Glibc.shutdown(clock.fd, Int32(SHUT_RDWR)) == 0 {
                    count += 1
                } else {
                    closed.subtract(1, ordering: .relaxed)
                }
            }
        }
        return count
    }

    /// Gives the memory of closed connections back to the system once many have closed.
    ///
    /// Each connection's buffers (libmicrohttpd's 32 KiB pool, the answer's copy) come from
    /// glibc's per-thread arenas; freed in the middle of a heap they are kept by the process,
    /// so after 1,500 slow readers closed batond still held 72 MB (issue 15). When the open
    /// connections have dropped by at least `drop` and to half their peak since the last
    /// trim, `malloc_trim(0)` returns the free pages of every arena (`madvise`). It runs on
    /// the reaper thread, at most once per check, only after such a drop.
    @discardableResult
    func trimIfDrained(drop: Int = 256) -> Bool {
        let now = openCount
        let peak = peakOpen.load(ordering: .relaxed)
        guard peak - now >= drop, now <= peak / 2 else { return false }
        peakOpen.store(now, ordering: .relaxed)
        _ = baton_heap_trim()
        trims.add(1, ordering: .relaxed)
        return true
    }

    /// Starts the reaper thread: it checks every `D`/4 (at most every second, at least every 50 ms).
    func start() {
        guard enabled else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        let intervalMs = Int32(min(1_000, max(50, timeoutNs / 4_000_000)))
        let box = Unmanaged.passRetained(ReaperArguments(deadline: self, wakeFd: fds[0], intervalMs: intervalMs)).toOpaque()
        var thread = pthread_t()
        guard pthread_create(&thread, nil, reaperMain, box) == 0 else {
            Unmanaged<ReaperArguments>.fromOpaque(box).release()
            Glibc.close(fds[0])
            Glibc.close(fds[1])
            return
        }
        reaper.withLock { $0 = Reaper(thread: thread, readFd: fds[0], writeFd: fds[1]) }
    }

    /// Stops the reaper thread and waits for it.
    func stop() {
        guard let r = reaper.withLock({ r -> Reaper? in defer { r = nil }; return r }) else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(r.writeFd, &byte, 1)
        pthread_join(r.thread, nil)
        Glibc.close(r.readFd)
        Glibc.close(r.writeFd)
    }
}

/// The running reaper thread and the pipe that wakes it for a stop.
private struct Reaper: Sendable {
    let thread: pthread_t
    let readFd: Int32
    let writeFd: Int32
}

/// One connection's header deadline; owned by libmicrohttpd's socket context (+1) and the
/// open-connection table.
final class ConnectionClock: Sendable {
    let fd: Int32
    /// Monotonic nanoseconds; `.max`: no deadline (the request is being answered).
    let deadlineNs: Atomic<UInt64>
    /// The answer is queued and being read (the deadline is then the reader's).
    let answerQueued = Atomic<Bool>(false)

    init(fd: Int32, deadlineNs: UInt64) {
        self.fd = fd
        self.deadlineNs = Atomic(deadlineNs)
    }
}

private final class ReaperArguments: Sendable {
    let deadline: HeaderDeadline
    let wakeFd: Int32
    let intervalMs: Int32

    init(deadline: HeaderDeadline, wakeFd: Int32, intervalMs: Int32) {
        self.deadline = deadline
        self.wakeFd = wakeFd
        self.intervalMs = intervalMs
    }
}

private func reaperMain(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let raw else { return nil }
    let args = Unmanaged<ReaperArguments>.fromOpaque(raw).takeRetainedValue()
    var p = pollfd(fd: args.wakeFd, events: Int16(POLLIN), revents: 0)
    while true {
        let n = poll(&p, 1, args.intervalMs)
        if n > 0 { break }  // woken by stop()
        if n < 0 && errno != EINTR { break }
        args.deadline.reap()
        args.deadline.trimIfDrained()
    }
    return nil
}
