public import BatonCore
import BatonSupport
import CHiredis
import Glibc
import Synchronization

/// One Redis connection that any thread writes commands to and one reader thread answers:
/// the caller does not wait for Redis, and several commands are in flight at once (issue 17).
///
/// Why: with a connection per worker thread, each worker waits out its own round trip, and
/// Redis pays a wake-up, a read and a write per command. That I/O is half of what Redis
/// spends on Baton's acquire script (16.8–18.8 µs per call from 4 clients one at a time,
/// 8.9–9.4 µs when calls share a write; bench/README.md). Here a worker writes its command
/// and goes on serving other connections; Redis reads and answers whatever has arrived in
/// one go. Measured: `POST /leader` 38,500/s against 30,500–33,500/s with the same binary,
/// Redis 11.8–12.4 µs per request against 18.0–20.0 µs (bench/README.md).
///
/// How: a command is framed into an out-box under a lock, and its completion queued in the
/// same step, so the queue is in the order of the wire; whichever writer finds nobody
/// writing sends the out-box, outside the lock. The reader reads replies in that order and
/// hands each to its completion, on the reader thread. A failed read (the server went away, or
/// said nothing within the command timeout) fails every queued command, with an unknown
/// outcome (each may have run), and closes the connection; the next command reconnects.
///
/// The pipeline only takes a command it can send now. When it cannot (the connection is
/// being reset, does not open, or reaches a server batond should no longer use; and for one
/// command timeout after a failed connect or a timed-out reply) it writes nothing and says
/// so: the caller then takes its own blocking path, which has every retry and failover rule
/// (``RedisConnection/command(building:)``).
public final class RedisPipeline: Sendable {
    public typealias Completion = @Sendable (Result<RedisReply, BackendError>) -> Void

    private let connection: Shared
    private let state = SleepingLock(State())
    /// Rung when a command is queued while the reader may be idle.
    private let wake = WakeSignal()

    private struct State {
        /// Completions of the commands written and not answered yet, oldest first from `head`.
        var waiting: [Completion] = []
        var head = 0
        /// A write failed or the server changed while commands were waiting: the reader
        /// fails them and closes the connection; nothing is written until then.
        var resetting = false
        /// After a failed connect or a command timeout: no new connection is tried before
        /// (monotonic ms). Tried at once, every writer would queue behind a connect to a hung
        /// server, one command timeout each (ChaosFaultTests: 8 requests took 1.9 s).
        var pausedUntilMs: Int64 = 0
        /// Framed commands not written yet, and whether a writer is writing them.
        var outbox: [UInt8] = []
        var flushing = false
        /// The reader lost the connection while a writer was writing: the writer closes it
        /// when it is done (nobody else may close a socket another thread writes to).
        var closeWhenFlushed = false
        var commands = 0
    }

    /// - Parameter connection: used by this pipeline only from now on.
    public init(connection: RedisConnection) {
        self.connection = Shared(connection)
        weak let pipeline = self
        // The reader holds the pipeline only while it works: a pipeline nobody else holds
        // is freed, and its reader ends within a second.
        BackgroundThread.start(name: "redis-pipeline") {
            while let p = pipeline { p.readOnce() }
        }
    }

    deinit {
        connection.value.close()
    }

    /// Commands written so far.
    public var commandsSent: Int { state.withLock { $0.commands } }

    /// Writes the command `build` makes (given the run id of the server that will run it)
    /// and returns true: `completion` then gets its reply, or the failure that lost it,
    /// exactly once on the reader thread. Returns false, having written nothing, when the
    /// command should take the caller's blocking path instead (see the type's notes).
    ///
    /// The command is framed into an out-box under the lock; the socket is written outside
    /// it, by whichever writer found nobody writing, with everything queued by then. Holding
    /// the lock through send(2) made it the bottleneck: 12.8 % of batond's CPU in the lock's
    /// slow path under 32 connections (perf), for a critical section of one loopback write.
    public func send(_ build: (_ serverRunId: String) -> RedisCommand, completion: @escaping Completion) -> Bool {
        enum Step { case refused, queued, write }
        let step = state.withLock { s -> Step in
            guard !s.resetting, !s.closeWhenFlushed else { return .refused }
            let c = connection.value
            if c.hasLeftServer {
                guard s.head < s.waiting.count || s.flushing else {
                    c.close()  // nothing waits or is being written: nobody else uses it
                    return .refused
                }
                s.resetting = true
                if let ctx = c.context { shutdown(ctx.pointee.fd, Int32(SHUT_RDWR)) }
                return .refused
            }
            if c.context == nil && MonotonicClock.milliseconds() < s.pausedUntilMs { return .refused }
            do throws(BackendError) {
                _ = try c.connected()
            } catch {
                s.pausedUntilMs = MonotonicClock.milliseconds() + Int64(c.endpoint.timeoutMs)
                return .refused
            }
            let command = build(c.serverRunId)
            RESPWriter.withFramed(command) { s.outbox.append(contentsOf: $0) }
            s.waiting.append(completion)
            s.commands += 1
            if s.flushing { return .queued }
            s.flushing = true
            return .write
        }
        guard step != .refused else { return false }
        wake.signal()  // before writing: the reply may come back before flush() returns
        if step == .write { flush() }
        return true
    }

    /// Writes the out-box until it is empty; run by one writer at a time (`flushing`).
    private func flush() {
        var chunk: [UInt8] = []
        while true {
            let fd: Int32? = state.withLock { s in
                guard !s.outbox.isEmpty, !s.resetting, !s.closeWhenFlushed, let ctx = connection.value.context else {
                    s.outbox.removeAll(keepingCapacity: true)
                    s.flushing = false
                    if s.closeWhenFlushed {
                        connection.value.close()
                        s.closeWhenFlushed = false
                    }
                    return nil
                }
                swap(&chunk, &s.outbox)
                return ctx.pointee.fd
            }
            guard let fd else { return }
            let failed = chunk.withUnsafeBytes { RedisConnection.write($0, to: fd) }
            chunk.removeAll(keepingCapacity: true)
            if failed != 0 {
                // The reader fails what waits (these commands too) and the connection closes.
                state.withLock { s in
                    s.resetting = true
                    shutdown(fd, Int32(SHUT_RDWR))
                }
            }
        }
    }

    /// Reads the next reply (and any others already read with it) and hands them on, or
    /// waits up to a second for a command to be sent.
    private func readOnce() {
        let c = connection.value
        // The context's address (an Int: a pointer cannot leave the lock), while commands wait.
        let address: Int = state.withLock { s in s.head < s.waiting.count ? Int(bitPattern: c.context) : 0 }
        guard let ctx = UnsafeMutablePointer<redisContext>(bitPattern: address) else {
            wake.wait(timeoutMs: 1_000)
            return
        }
        var raw: UnsafeMutableRawPointer?
        _ = redisGetReply(ctx, &raw)
        if var next = raw {
            // Replies that came in the same read are parsed from hiredis' buffer without
            // another read, and handed on together: one lock for all of them.
            var replies: [Result<RedisReply, BackendError>] = []
            while true {
                replies.append(c.classified(RedisConnection.copy(next.assumingMemoryBound(to: redisReply.self))))
                c.release(next)
                var more: UnsafeMutableRawPointer?
                guard redisReaderGetReply(ctx.pointee.reader, &more) == REDIS_OK, let m = more else { break }
                next = m
            }
            let completions: [Completion] = state.withLock { s in
                let n = min(replies.count, s.waiting.count - s.head)
                let taken = Array(s.waiting[s.head..<(s.head + n)])
                s.head += n
                if s.head == s.waiting.count {
                    s.waiting.removeAll(keepingCapacity: true)
                    s.head = 0
                }
                return taken
            }
            for (f, reply) in zip(completions, replies) { f(reply) }
            return
        }
        var error = RedisConnection.error(of: ctx, during: "command")
        // Written and unanswered: each may have run.
        error.outcomeUnknown = true
        let hung = error.kind == .timeout
        let lost: [Completion] = state.withLock { s in
            let lost = Array(s.waiting[s.head...])
            s.waiting.removeAll(keepingCapacity: true)
            s.head = 0
            s.resetting = false
            s.outbox.removeAll(keepingCapacity: true)
            if hung { s.pausedUntilMs = MonotonicClock.milliseconds() + Int64(c.endpoint.timeoutMs) }
            if s.flushing { s.closeWhenFlushed = true } else { c.close() }
            return lost
        }
        for f in lost { f(.failure(error)) }
    }

    /// The connection, touched under the state's lock by writers, and by the reader outside
    /// it only to read from a context it got under the lock while commands were waiting.
    private final class Shared: @unchecked Sendable {
        // @unchecked: `send` uses the connection only with `state` locked. Outside the lock,
        // the one writer that is flushing (`flushing`) writes to the socket with send(2), and
        // the reader reads from the hiredis context, but only while a command waits. Nothing
        // closes or reconnects the connection while either may use it: `send` closes it only
        // when nothing waits and nobody flushes, else it shuts the socket down (ending the
        // reader's read); the reader closes it under the lock, or leaves that to the flusher
        // (`closeWhenFlushed`); the flusher closes it under the lock when it is done. The
        // context's reader state and error fields are the reader thread's alone.
        let value: RedisConnection
        init(_ value: RedisConnection) { self.value = value }
    }
}
