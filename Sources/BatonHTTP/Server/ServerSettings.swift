/// Limits and sizing for ``HTTPServer``.
public struct ServerSettings: Sendable {
    /// `host:port`; host may be an IPv4 address, `[IPv6]`, `localhost` or `*`/`0.0.0.0`.
    public var listen: String
    /// Worker threads; each serves its connections one request at a time.
    public var threads: Int
    /// Largest accepted request body (413 above).
    public var maxBodyBytes: Int = 64 * 1024
    /// Idle connections are closed after this many seconds.
    public var idleTimeoutSeconds: Int = 30
    /// Concurrent connections across all threads.
    public var connectionLimit: Int = 4_096
    /// Memory for one connection's request line and headers (larger headers get 431).
    public var connectionMemoryBytes: Int = 32 * 1024
    public var listenBacklog: Int = 1_024
    /// How each worker thread waits for its connections. `.poll` by default: libmicrohttpd
    /// 0.9.75's epoll loop can leave a worker asleep for the idle timeout with requests
    /// already read from epoll (see ``HTTPServer``).
    public var eventLoop: EventLoop = .poll
    /// A request's line and headers must be complete within this many milliseconds, or its
    /// connection is closed (without an answer): a client that trickles its headers a byte
    /// at a time is never idle, so the idle timeout alone would keep it forever (slowloris).
    /// 0 turns the deadline off. See ``HeaderDeadline`` for when the clock starts.
    public var headerTimeoutMs: Int = 10_000

    public init(listen: String, threads: Int) {
        self.listen = listen
        self.threads = threads
    }
}

/// libmicrohttpd's internal event loop for each worker thread.
public enum EventLoop: Sendable {
    case poll
    case epoll
}
