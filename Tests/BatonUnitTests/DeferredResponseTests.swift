import BatonHTTP
import BatonSupport
import BatonTestSupport
import Foundation
import Synchronization
import Testing

/// Held answers (``DeferredResponse``) on a real HTTPServer over loopback: the answer may
/// come from another thread before, while or after libmicrohttpd suspends the connection,
/// and every request must still be answered, once.
///
/// Own threads only (no GCD): in the full suite other tests block Dispatch's pool, and an
/// answer queued there came seconds late (a slow test, not a lost resume).
@Suite(.serialized) struct DeferredResponseTests {
    /// Answers every request later: before the handler has even returned (no suspend at all),
    /// or from the fulfiller thread at once (racing the suspend) or a few microseconds later.
    final class Racing: HTTPHandler, Sendable {
        let fulfilled = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        private let jobs = Mutex<[(dueNs: UInt64, answer: DeferredResponse, response: HTTPResponse, twice: Bool)]>([])
        private let stopping = Atomic<Bool>(false)

        func handle(_ request: HTTPRequest) -> HTTPResponse {
            let answer = DeferredResponse()
            let n = Int(request.queryValue("n") ?? "0") ?? 0
            let response = HTTPResponse(status: 200, body: Array("answer \(n)".utf8))
            if n % 4 == 0 {
                if answer.fulfill(response) { fulfilled.add(1, ordering: .relaxed) }
            } else {
                let delayNs = n % 4 == 3 ? UInt64(n % 7 * 30_000) : 0
                jobs.withLock { $0.append((DispatchTime.now().uptimeNanoseconds + delayNs, answer, response, n % 4 == 1)) }
            }
            return .deferred(answer)
        }

        /// The fulfiller thread: answers each job once it is due. It spins (for the test's few
        /// seconds): an answer given within a µs or so of the handler's return is what races
        /// the suspend; a thread woken from sleep comes too late to (measured: a futex-woken
        /// fulfiller never hit the window in 4,800 requests, a spinning one did).
        func start() {
            Thread.detachNewThread { [self] in
                while !stopping.load(ordering: .relaxed) {
                    let now = DispatchTime.now().uptimeNanoseconds
                    let due = jobs.withLock { list -> [(dueNs: UInt64, answer: DeferredResponse, response: HTTPResponse, twice: Bool)] in
                        let ready = list.filter { $0.dueNs <= now }
                        list.removeAll { $0.dueNs <= now }
                        return ready
                    }
                    for job in due {
                        if job.answer.fulfill(job.response) { fulfilled.add(1, ordering: .relaxed) }
                        // A second answer is refused, never queued.
                        if job.twice, job.answer.fulfill(HTTPResponse(status: 500, body: [])) { refused.add(1, ordering: .relaxed) }
                    }
                    if due.isEmpty { sched_yield() }
                }
            }
        }

        func stop() { stopping.store(true, ordering: .relaxed) }
    }

    /// 8 clients x 1,000 requests, each answered at about the time the worker suspends the
    /// connection. A lost resume leaves a request hanging for good: the client's 10 s read
    /// timeout catches it (generous, for a loaded machine; bounded: the clients stop after 30 s).
    @Test func everyHeldRequestIsAnsweredOnce() throws {
        let handler = Racing()
        handler.start()
        defer { handler.stop() }
        var settings = ServerSettings(listen: "127.0.0.1:0", threads: 2)
        settings.idleTimeoutSeconds = 30
        let server = HTTPServer(settings: settings, handler: handler)
        try server.start()
        defer { server.stop(graceMs: 1_000) }
        let clients = 8, perClient = 1_000
        let tally = Tally()
        let started = Date()
        let port = server.port
        for c in 0..<clients {
            Thread.detachNewThread {
                defer { tally.finished.add(1, ordering: .relaxed) }
                var client = HTTPClient(port: port, timeoutSeconds: 10)
                for i in 0..<perClient where Date().timeIntervalSince(started) < 30 {
                    let n = c * perClient + i
                    do {
                        let r = try client.get("/held?n=\(n)")
                        if r.status == 200, r.text == "answer \(n)" {
                            tally.answered.add(1, ordering: .relaxed)
                            continue
                        }
                        tally.hung.withLock { $0.append("n=\(n): \(r.status) \(r.text)") }
                    } catch {
                        tally.hung.withLock { $0.append("n=\(n): \(error)") }
                    }
                    // A late answer would be read as the next request's: start afresh.
                    client = HTTPClient(port: port, timeoutSeconds: 10)
                }
            }
        }
        while tally.finished.load(ordering: .relaxed) < clients && Date().timeIntervalSince(started) < 60 { usleep(10_000) }
        let problems = tally.hung.withLock { $0 }
        #expect(problems.isEmpty, "\(problems.count) requests not answered, first: \(problems.prefix(5))")
        #expect(tally.answered.load(ordering: .relaxed) == clients * perClient)
        #expect(handler.fulfilled.load(ordering: .relaxed) == clients * perClient)
        #expect(handler.refused.load(ordering: .relaxed) == 0)
        // The last answers' completion callbacks may run just after the client read them.
        let settled = Date().addingTimeInterval(2)
        while server.inFlight > 0 && Date() < settled { usleep(5_000) }
        #expect(server.inFlight == 0)
    }

    /// Never answers: only the server's `stop` does.
    final class Never: HTTPHandler, Sendable {
        func handle(_ request: HTTPRequest) -> HTTPResponse { .deferred(DeferredResponse()) }
    }

    /// `stop` answers every request still held (503), wherever the registry keeps it, and so
    /// stops at once rather than after its grace period: 40 held requests over 40 connections
    /// land in every shard of ``HeldRequests``.
    @Test func stopAnswersEveryHeldRequest() throws {
        var settings = ServerSettings(listen: "127.0.0.1:0", threads: 4)
        settings.idleTimeoutSeconds = 30
        let server = HTTPServer(settings: settings, handler: Never())
        try server.start()
        let port = server.port, count = 40
        let statuses = Mutex<[Int]>([])
        let done = WakeSignal()
        for _ in 0..<count {
            Thread.detachNewThread {
                var client = HTTPClient(port: port, timeoutSeconds: 10)
                let status = (try? client.get("/held").status) ?? -1
                statuses.withLock { $0.append(status) }
                done.signal()
            }
        }
        let deadline = Date().addingTimeInterval(10)
        while server.inFlight < count && Date() < deadline { usleep(5_000) }
        #expect(server.inFlight == count)
        let started = Date()
        let cut = server.stop(graceMs: 5_000)
        #expect(Date().timeIntervalSince(started) < 3, "stop waited out its grace period: held requests were not answered")
        #expect(cut == 0)
        for _ in 0..<count { _ = done.wait(timeoutMs: 10_000) }
        #expect(statuses.withLock { $0 } == Array(repeating: 503, count: count))
    }
}

/// What the client threads report.
private final class Tally: Sendable {
    let answered = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let hung = Mutex<[String]>([])
}
