import Foundation

/// A small blocking HTTP/1.1 client over a socket, for tests: exact control over what
/// is sent (raw bytes, oversized bodies, keep-alive) and what came back.
public final class HTTPClient {
    public struct Response: CustomStringConvertible, Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) as? [String: Any] ?? [:]
        }
        public var description: String { "HTTP \(status) \(text.prefix(500))" }
    }

    public let port: Int
    public var token: String?
    private var fd: Int32 = -1
    public let timeoutSeconds: Int

    public init(port: Int, token: String? = nil, timeoutSeconds: Int = 10) {
        self.port = port
        self.token = token
        self.timeoutSeconds = timeoutSeconds
    }

    deinit { disconnect() }

    public func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Sends a request on the kept-alive connection (reconnecting when needed).
    public func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
                        auth: Bool = true) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if auth, let token { head += "Authorization: Bearer \(token)\r\n" }
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let bodyBytes = Array((body ?? "").utf8)
        if body != nil || method == "POST" { head += "Content-Length: \(bodyBytes.count)\r\n" }
        head += "\r\n"
        return try raw(Array(head.utf8) + bodyBytes)
    }

    public func get(_ path: String, headers: [String: String] = [:], auth: Bool = true) throws -> Response {
        try request("GET", path, headers: headers, auth: auth)
    }

    public func post(_ path: String, _ body: String, headers: [String: String] = [:], auth: Bool = true) throws -> Response {
        try request("POST", path, body: body, headers: headers, auth: auth)
    }

    /// Sends raw bytes and reads one response.
    public func raw(_ bytes: [UInt8]) throws -> Response {
        if fd < 0 { try connect() }
        do {
            try sendAll(bytes)
            return try readResponse()
        } catch {
            // One retry on a fresh connection: the server may have closed an idle one.
            disconnect()
            try connect()
            try sendAll(bytes)
            return try readResponse()
        }
    }

    /// Whether the server closed the connection (read returns EOF) within `ms`.
    public func serverClosed(withinMs ms: Int) -> Bool {
        guard fd >= 0 else { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(ms)) > 0 else { return false }
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_PEEK)) == 0
    }

    public func connect() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 {
            let e = errno
            disconnect()
            throw TestSetupError("connect to 127.0.0.1:\(port) failed: errno \(e)")
        }
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw TestSetupError("send failed: errno \(errno)") }
            sent += n
        }
    }

    private var buffer: [UInt8] = []

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { throw TestSetupError("connection closed or timed out while reading (errno \(errno))") }
        buffer.append(contentsOf: chunk[0..<n])
    }

    private func readResponse() throws -> Response {
        buffer.removeAll()
        let crlf2: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            try fill()
            if buffer.count >= 4 {
                for i in 0...(buffer.count - 4) where Array(buffer[i..<(i + 4)]) == crlf2 { headEnd = i; break }
            }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestSetupError("bad status line") }
        let headers: [(String, String)] = lines.compactMap { line in
            guard let c = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(buffer[(headEnd! + 4)...])
        if let cl = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            while body.count < cl {
                buffer.removeAll()
                try fill()
                body.append(contentsOf: buffer)
            }
        }
        if headers.contains(where: { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }) { disconnect() }
        return Response(status: status, headers: headers, body: body)
    }
}
