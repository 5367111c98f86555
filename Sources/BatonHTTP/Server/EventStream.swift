import CMicroHTTPD
import Glibc
import Synchronization

/// A response body written over time (Server-Sent Events): the handler returns
/// ``HTTPResponse/stream(_:headers:)`` and any thread calls ``send(_:)`` and ``finish()``.
///
/// libmicrohttpd pulls the body through a content-reader callback; when nothing is queued
/// the callback suspends the connection (microhttpd.h: returning 0 "should only be used in
/// conjunction with MHD_suspend_connection() to avoid busy waiting") and ``send(_:)`` resumes
/// it, so an idle stream costs no thread. What a client has not read yet is bounded by
/// `limit` bytes: past it ``send(_:)`` ends the stream (a client that cannot keep up
/// reconnects with `Last-Event-ID`) instead of buffering without end.
public final class EventStream: Sendable {
    struct State {
        var queued: [UInt8] = []
        var finished = false
        /// The client is gone (the response was freed): nothing more is kept.
        var closed = false
        /// The connection's address while the reader has suspended it.
        var suspended: Int?
    }

    public let limit: Int
    private let state = Mutex(State())

    public init(limit: Int = 64 * 1024) {
        self.limit = limit
    }

    /// Queues bytes. Returns false when the stream is over (closed by the client, finished,
    /// or ended now because the client is `limit` bytes behind).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        let (ok, resume) = state.withLock { s -> (Bool, Int?) in
            guard !s.finished, !s.closed else { return (false, nil) }
            if s.queued.count + bytes.count > limit {
                s.finished = true
            } else {
                s.queued.append(contentsOf: bytes)
            }
            let r = s.suspended
            s.suspended = nil
            return (!s.finished, r)
        }
        if let resume { resumeStream(resume) }
        return ok
    }

    /// Ends the stream once what is queued has been sent.
    public func finish() {
        let resume = state.withLock { s -> Int? in
            s.finished = true
            let r = s.suspended
            s.suspended = nil
            return r
        }
        if let resume { resumeStream(resume) }
    }

    /// Whether the client has gone away or the stream ended.
    public var isOver: Bool { state.withLock { $0.closed || $0.finished } }

    // MARK: - Server side

    /// The content reader: copies what is queued, or suspends `connection` (under the lock,
    /// so a concurrent ``send(_:)`` resumes only a suspended connection).
    func read(into buffer: UnsafeMutablePointer<CChar>, max: Int, connection: Int) -> Int {
        state.withLock { s in
            if !s.queued.isEmpty {
                let n = Swift.min(max, s.queued.count)
                s.queued.withUnsafeBytes { src in
                    UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress!, byteCount: n)
                }
                s.queued.removeFirst(n)
                return n
            }
            if s.finished || s.closed { return -1 }  // MHD_CONTENT_READER_END_OF_STREAM
            if let raw = UnsafeMutableRawPointer(bitPattern: connection) { MHD_suspend_connection(OpaquePointer(raw)) }
            s.suspended = connection
            return 0
        }
    }

    /// The response was freed: the request is over.
    func closed() {
        state.withLock { s in
            s.closed = true
            s.queued = []
        }
    }
}

private func resumeStream(_ address: Int) {
    guard let raw = UnsafeMutableRawPointer(bitPattern: address) else { return }
    MHD_resume_connection(OpaquePointer(raw))
}

/// What the content reader gets as `cls`: the stream and its connection.
final class StreamBinding {
    let stream: EventStream
    let connection: Int
    init(stream: EventStream, connection: Int) {
        self.stream = stream
        self.connection = connection
    }
}

func streamRead(_ cls: UnsafeMutableRawPointer?, _ pos: UInt64, _ buf: UnsafeMutablePointer<CChar>?, _ max: Int) -> Int {
    guard let cls, let buf else { return -2 }
    let b = Unmanaged<StreamBinding>.fromOpaque(cls).takeUnretainedValue()
    return b.stream.read(into: buf, max: max, connection: b.connection)
}

func streamFreed(_ cls: UnsafeMutableRawPointer?) {
    guard let cls else { return }
    let b = Unmanaged<StreamBinding>.fromOpaque(cls).takeRetainedValue()
    b.stream.closed()
}
