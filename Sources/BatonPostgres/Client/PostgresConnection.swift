import BatonCore
import BatonSupport
import CLibPQ
import Glibc

/// Rows of text values copied out of a libpq result.
public struct PostgresRows: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    /// Rows affected by an INSERT/UPDATE/DELETE.
    public let affected: Int
}

/// A database error that is about the statement (SQLSTATE), not about availability.
public struct PostgresStatementError: Error, Sendable, CustomStringConvertible {
    public let sqlState: String
    public let message: String
    public var description: String { "\(sqlState): \(message)" }
}

/// One blocking connection to PostgreSQL over libpq.
///
/// Statements go through the extended protocol only (`PQsendQueryParams` /
/// `PQsendQueryPrepared`): values travel as parameters, never in SQL text. Every statement
/// has a client-side deadline (poll on the socket) on top of the server's
/// `statement_timeout`, so a hung server or network is a quick ``BackendError``: the
/// statement is cancelled and the connection dropped. A bad connection reopens on next use.
/// Not thread-safe: each thread owns one (see ``PerThreadPostgres``).
public final class PostgresConnection {
    public let settings: PostgresSettings
    private var conn: OpaquePointer?
    private var prepared: [String: String] = [:]  // SQL -> statement name

    public init(settings: PostgresSettings) {
        self.settings = settings
    }

    deinit { close() }

    public func close() {
        if let c = conn { PQfinish(c) }
        conn = nil
        prepared.removeAll()
    }

    /// Runs one parameterized statement, prepared once per connection.
    /// - Throws: ``BackendError`` when the database is unreachable or too slow;
    ///   ``PostgresStatementError`` when it rejects the statement.
    public func query(_ sql: String, _ params: [String?] = []) throws -> PostgresRows {
        // A kept connection may have been closed by a server restart since its last use:
        // one retry on a fresh connection for I/O errors (statements here are reads or
        // idempotent upserts). Timeouts are not retried.
        let reused = conn != nil
        do {
            return try attemptQuery(sql, params)
        } catch let error as BackendError where reused && (error.kind == .io || error.kind == .server) && conn == nil {
            return try attemptQuery(sql, params)
        }
    }

    private func attemptQuery(_ sql: String, _ params: [String?]) throws -> PostgresRows {
        let c = try connected()
        let name: String
        if let n = prepared[sql] {
            name = n
        } else {
            name = "baton_\(prepared.count + 1)"
            let sent = PQsendPrepare(c, name, sql, Int32(params.count), nil)
            guard sent == 1 else { throw dropped(BackendError(.io, "send prepare: \(lastError(c))")) }
            _ = try collect(c)
            prepared[sql] = name
        }
        let sent = withCStrings(params) { values in
            PQsendQueryPrepared(c, name, Int32(params.count), values, nil, nil, 0)
        }
        guard sent == 1 else { throw dropped(BackendError(.io, "send query: \(lastError(c))")) }
        return try collect(c)
    }

    /// Runs fixed SQL text with no parameters (migrations, BEGIN/COMMIT); may hold
    /// several statements. Never pass values in `sql`: use ``query(_:_:)``.
    public func execute(_ sql: StaticString) throws {
        let c = try connected()
        let text = String(describing: sql)
        guard PQsendQuery(c, text) == 1 else { throw dropped(BackendError(.io, "send: \(lastError(c))")) }
        _ = try collect(c)
    }

    private func connected() throws(BackendError) -> OpaquePointer {
        if let c = conn {
            if PQstatus(c) == CONNECTION_OK { return c }
            close()
        }
        let keys = ["dbname", "connect_timeout", "options", "application_name", "keepalives", "keepalives_idle"]
        let values = [settings.url, String(max(2, (settings.timeoutMs + 999) / 1000)),
                      "-c statement_timeout=\(settings.timeoutMs) -c lock_timeout=\(settings.timeoutMs) -c client_min_messages=warning",
                      "batond", "1", "30"]
        let made: OpaquePointer? = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let c = made else { throw BackendError(.connect, "cannot allocate a libpq connection") }
        guard PQstatus(c) == CONNECTION_OK else {
            let message = lastError(c)
            PQfinish(c)
            throw BackendError(.connect, "postgres connect: \(message)")
        }
        // Server warnings become log lines (libpq would print them raw to stderr).
        _ = PQsetNoticeProcessor(c, postgresNotice, nil)
        guard PQsetnonblocking(c, 1) == 0 else {
            PQfinish(c)
            throw BackendError(.connect, "postgres: cannot switch to non-blocking mode")
        }
        conn = c
        return c
    }

    /// Waits for the results of the statement just sent; the last one wins.
    private func collect(_ c: OpaquePointer) throws -> PostgresRows {
        let deadline = MonotonicClock.milliseconds() + Int64(settings.timeoutMs) + 250  // the server's own timeout fires first
        // Flush what is queued (non-blocking mode may leave part unsent).
        while true {
            let f = PQflush(c)
            if f == 0 { break }
            if f < 0 { throw dropped(BackendError(.io, "flush: \(lastError(c))")) }
            try wait(c, events: Int16(POLLIN | POLLOUT), until: deadline)
            if PQconsumeInput(c) == 0 { throw dropped(BackendError(.io, "read: \(lastError(c))")) }
        }
        var outcome: PostgresRows?
        var failure: PostgresStatementError?
        while true {
            while PQisBusy(c) == 1 {
                try wait(c, events: Int16(POLLIN), until: deadline)
                if PQconsumeInput(c) == 0 { throw dropped(BackendError(.io, "read: \(lastError(c))")) }
            }
            guard let r = PQgetResult(c) else { break }
            defer { PQclear(r) }
            switch PQresultStatus(r) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                outcome = Self.rows(r)
            default:
                let state = PQresultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? "?????"
                let message = PQresultErrorMessage(r).map { String(cString: $0) } ?? "unknown error"
                failure = PostgresStatementError(sqlState: state, message: message.trimmingSpace())
            }
        }
        if PQstatus(c) != CONNECTION_OK { throw dropped(BackendError(.io, "connection lost: \(lastError(c))")) }
        if let failure {
            // Class 57 (operator intervention: shutdown, cancel), 08 (connection) and 53 (resources)
            // mean the database cannot serve now; statement_timeout is 57014.
            if failure.sqlState == "57014" { throw BackendError(.timeout, "postgres: statement timed out") }
            if ["57", "08", "53"].contains(String(failure.sqlState.prefix(2))) {
                throw dropped(BackendError(.server, "postgres: \(failure.message.prefix(200))"))
            }
            throw failure
        }
        return outcome ?? PostgresRows(columns: [], rows: [], affected: 0)
    }

    private func wait(_ c: OpaquePointer, events: Int16, until deadline: Int64) throws(BackendError) {
        let left = deadline - MonotonicClock.milliseconds()
        guard left > 0 else { throw cancelled(c) }
        var pfd = pollfd(fd: PQsocket(c), events: events, revents: 0)
        let n = poll(&pfd, 1, Int32(min(left, Int64(Int32.max))))
        if n == 0 { throw cancelled(c) }
        if n < 0 && errno != EINTR { throw dropped(BackendError(.io, "poll: \(String(cString: strerror(errno)))")) }
    }

    /// The client-side deadline passed: ask the server to cancel, and drop the connection.
    private func cancelled(_ c: OpaquePointer) -> BackendError {
        if let cancel = PQgetCancel(c) {
            var buf = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &buf, 256)
            PQfreeCancel(cancel)
        }
        return dropped(BackendError(.timeout, "postgres: no answer within \(settings.timeoutMs) ms"))
    }

    private func dropped(_ error: BackendError) -> BackendError {
        close()
        return error
    }

    private func lastError(_ c: OpaquePointer) -> String {
        PQerrorMessage(c).map { String(cString: $0).trimmingSpace() } ?? "unknown"
    }

    private static func rows(_ r: OpaquePointer) -> PostgresRows {
        let nrows = Int(PQntuples(r)), ncols = Int(PQnfields(r))
        let columns = (0..<ncols).map { String(cString: PQfname(r, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(nrows)
        for i in 0..<nrows {
            rows.append((0..<ncols).map { j in
                PQgetisnull(r, Int32(i), Int32(j)) == 1 ? nil : String(cString: PQgetvalue(r, Int32(i), Int32(j)))
            })
        }
        let affected = Int(String(cString: PQcmdTuples(r))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affected: affected)
    }
}


extension String {
    func trimmingSpace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// libpq's notice processor: a warning from the server, as a structured log line.
private func postgresNotice(_ arg: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let message else { return }
    let text = String(cString: message).trimmingSuffix(while: { $0 == "\n" })
    Log.current.warn("postgres notice", ["detail": .string(String(text.prefix(300)))])
}

private extension String {
    func trimmingSuffix(while drop: (Character) -> Bool) -> String {
        var s = Substring(self)
        while let last = s.last, drop(last) { s = s.dropLast() }
        return String(s)
    }
}
