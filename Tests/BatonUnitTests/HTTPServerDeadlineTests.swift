import BatonHTTP
import BatonTestSupport
import Foundation
import Testing

/// The header deadline against slowloris, on a real HTTPServer over loopback. Bounds are
/// generous: the machine running the tests may be loaded.
@Suite(.serialized) struct HTTPServerDeadlineTests {
    struct Hello: HTTPHandler {
        func handle(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: 200, body: Array("hi".utf8)) }
    }

    func server(headerTimeoutMs: Int) throws -> HTTPServer {
        var settings = ServerSettings(listen: "127.0.0.1:0", threads: 2)
        settings.headerTimeoutMs = headerTimeoutMs
        settings.idleTimeoutSeconds = 30
        let server = HTTPServer(settings: settings, handler: Hello())
        try server.start()
        return server
    }

    /// A connection sending a header byte every 100 ms is never idle; it must be closed
    /// after about the deadline, while a normal client is served meanwhile.
    @Test func closesAConnectionThatTricklesItsHeaders() throws {
        let server = try server(headerTimeoutMs: 1_000)
        defer { server.stop(graceMs: 1_000) }
        let start = Date()  // before connecting: the server's clock cannot start earlier
        let slow = try RawConnection(port: server.port)
        try slow.send(Array("POST /slow HTTP/1.1\r\nHost: x\r\n".utf8))
        let header = Array("X-Slow: \(String(repeating: "a", count: 1_000))".utf8)
        var closedAfter: TimeInterval?
        var normalStatus: Int?
        var sent = 0
        while Date().timeIntervalSince(start) < 30 {
            if slow.closedByServer(waitingMs: 100) {
                closedAfter = Date().timeIntervalSince(start)
                break
            }
            if sent < header.count {
                do { try slow.send([header[sent]]) } catch {
                    closedAfter = Date().timeIntervalSince(start)
                    break
                }
                sent += 1
            }
            if normalStatus == nil && Date().timeIntervalSince(start) > 0.3 {
                normalStatus = try HTTPClient(port: server.port).get("/fast").status
            }
        }
        #expect(normalStatus == 200)
        let after = try #require(closedAfter, "the trickling connection was still open after 30 s")
        #expect(after >= 0.95, "closed after \(after) s, before the 1 s deadline")
        #expect(after < 20, "closed only after \(after) s")
        #expect(server.headerDeadlineClosures >= 1)
        // The server still serves new connections afterwards.
        #expect(try HTTPClient(port: server.port).get("/after").status == 200)
    }

    /// A connection that sends nothing at all is closed by the deadline too, long before
    /// the 30 s idle timeout.
    @Test func closesASilentConnection() throws {
        let server = try server(headerTimeoutMs: 1_000)
        defer { server.stop(graceMs: 1_000) }
        let start = Date()
        let silent = try RawConnection(port: server.port)
        var closedAfter: TimeInterval?
        while Date().timeIntervalSince(start) < 25 {
            if silent.closedByServer(waitingMs: 200) {
                closedAfter = Date().timeIntervalSince(start)
                break
            }
        }
        let after = try #require(closedAfter, "the silent connection was still open after 25 s")
        #expect(after >= 0.95 && after < 20, "closed after \(after) s")
    }

    /// Complete headers, then a body trickled a byte every 100 ms: closed after about the
    /// deadline (counted from the headers), while a whole body sent at once is answered.
    @Test func closesAConnectionThatTricklesItsBody() throws {
        let server = try server(headerTimeoutMs: 1_000)
        defer { server.stop(graceMs: 1_000) }
        let start = Date()
        let slow = try RawConnection(port: server.port)
        try slow.send(Array("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".utf8))
        var closedAfter: TimeInterval?
        var sent = 0
        while Date().timeIntervalSince(start) < 30 && sent < 1_000 {
            if slow.closedByServer(waitingMs: 100) {
                closedAfter = Date().timeIntervalSince(start)
                break
            }
            do { try slow.send([UInt8(ascii: "a")]) } catch {
                closedAfter = Date().timeIntervalSince(start)
                break
            }
            sent += 1
        }
        let after = try #require(closedAfter, "the trickling body was still being read after \(sent) bytes")
        #expect(after >= 0.95 && after < 20, "closed after \(after) s")
        let whole = try RawConnection(port: server.port)
        try whole.send(Array("POST /whole HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".utf8))
        #expect(try whole.readStatus() == 200)
    }

    /// A keep-alive connection idle between requests for longer than the deadline is not
    /// closed by it (only the idle timeout closes idle connections).
    @Test func keepsAnIdleKeepAliveConnection() throws {
        let server = try server(headerTimeoutMs: 1_000)
        defer { server.stop(graceMs: 1_000) }
        let conn = try RawConnection(port: server.port)
        try conn.send(Array("GET /one HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try conn.readStatus() == 200)
        // Idle for 2.5 deadlines (the reaper checks every 250 ms).
        #expect(!conn.closedByServer(waitingMs: 2_500))
        try conn.send(Array("GET /two HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try conn.readStatus() == 200)
        #expect(server.headerDeadlineClosures == 0)
    }

    /// With the deadline off, nothing is closed by it.
    @Test func offWhenZero() throws {
        let server = try server(headerTimeoutMs: 0)
        defer { server.stop(graceMs: 1_000) }
        let silent = try RawConnection(port: server.port)
        #expect(!silent.closedByServer(waitingMs: 1_500))
        #expect(try HTTPClient(port: server.port).get("/x").status == 200)
        #expect(server.headerDeadlineClosures == 0)
    }

    struct Big: HTTPHandler {
        func handle(_ request: HTTPRequest) -> HTTPResponse { HTTPResponse(status: 200, body: [UInt8](repeating: 0x61, count: 8 << 20)) }
    }

    /// Issue 15, item 4: a client that reads its answer 64 B at a time is never idle, so
    /// the idle timeout alone kept its connection (and the answer's copy) for as long as it
    /// liked. The answer must be read within the deadline.
    @Test func closesAConnectionThatReadsItsAnswerTooSlowly() throws {
        var settings = ServerSettings(listen: "127.0.0.1:0", threads: 2)
        settings.headerTimeoutMs = 1_000
        settings.idleTimeoutSeconds = 30
        let server = HTTPServer(settings: settings, handler: Big())
        try server.start()
        defer { server.stop(graceMs: 1_000) }
        let slow = try RawConnection(port: server.port, receiveBuffer: 4_096)
        let start = Date()
        try slow.send(Array("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        var read = 0
        var closedAfter: TimeInterval?
        while Date().timeIntervalSince(start) < 12 {
            let n = slow.receive(64, waitingMs: 100)
            if n < 0 {
                closedAfter = Date().timeIntervalSince(start)
                break
            }
            read += n
            usleep(20_000)
        }
        let after = try #require(closedAfter, "a reader of \(read) bytes in 12 s still had its connection (closures \(server.headerDeadlineClosures))")
        #expect(after >= 0.9 && after < 8, "closed after \(after) s")
        #expect(read < 8 << 20)
        #expect(server.headerDeadlineClosures == 1)
        // The server has let go of the request (and the answer's copy) too.
        let released = Date()
        while server.inFlight > 0 && Date().timeIntervalSince(released) < 5 { usleep(20_000) }
        #expect(server.inFlight == 0)
        // A client that reads at once gets all of it.
        let fast = try RawConnection(port: server.port)
        try fast.send(Array("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try fast.readStatus() == 200)
    }

    /// After many connections closed, their memory is given back (malloc_trim).
    @Test func trimsTheHeapAfterManyConnectionsClosed() throws {
        let server = try server(headerTimeoutMs: 1_000)
        defer { server.stop(graceMs: 1_000) }
        var conns: [RawConnection] = []
        for _ in 0..<300 { conns.append(try RawConnection(port: server.port)) }
        for c in conns { try c.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) }
        for c in conns { #expect(try c.readStatus() == 200) }
        conns.removeAll()
        let start = Date()
        while server.heapTrims == 0 && Date().timeIntervalSince(start) < 10 { usleep(50_000) }
        #expect(server.heapTrims >= 1, "no trim after 300 connections closed")
    }

    /// A server dropped without stop() stops: its port no longer accepts connections.
    @Test func aDroppedServerStopsServing() throws {
        var server: HTTPServer? = try self.server(headerTimeoutMs: 1_000)
        let port = server!.port
        #expect(try HTTPClient(port: port).get("/").status == 200)
        server = nil
        #expect(throws: (any Error).self) { try HTTPClient(port: port).get("/") }
    }
}

/// One client socket with exact control over what is sent when.
private final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, receiveBuffer: Int32 = 0) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if receiveBuffer > 0 {
            var size = receiveBuffer
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            close(fd)
            throw TestSetupError("connect failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        let n = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n != bytes.count { throw TestSetupError("send failed: errno \(errno)") }
    }

    /// Reads at most `count` bytes within `waitingMs`: how many (0 when none came), or -1
    /// when the server closed the connection.
    func receive(_ count: Int, waitingMs: Int32) -> Int {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, waitingMs) > 0 else { return 0 }
        var chunk = [UInt8](repeating: 0, count: count)
        let n = recv(fd, &chunk, count, Int32(MSG_DONTWAIT))
        return n > 0 ? n : -1
    }

    /// Whether the server closed the connection (EOF or reset) within `waitingMs`.
    func closedByServer(waitingMs: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, waitingMs) > 0 else { return false }
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) <= 0
    }

    /// Reads one response (headers and a Content-Length body) and returns its status.
    func readStatus() throws -> Int {
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            if let i = (0..<max(0, buffer.count - 3)).first(where: { Array(buffer[$0..<($0 + 4)]) == end }) {
                let head = String(decoding: buffer[0..<i], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if buffer.count >= i + 4 + length {
                    buffer.removeFirst(i + 4 + length)
                    let parts = head.split(separator: " ")
                    guard parts.count >= 2, let status = Int(parts[1]) else { throw TestSetupError("bad status line: \(head)") }
                    return status
                }
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { throw TestSetupError("connection closed while reading (errno \(errno))") }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}
