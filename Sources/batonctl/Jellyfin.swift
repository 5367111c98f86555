import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One entry of Jellyfin's `GET /ScheduledTasks` (only the fields batonctl reads).
struct JellyfinTask: Codable, Sendable {
    var Id: String
    var Key: String?
    var Name: String?
    var State: String?
    var CurrentProgressPercentage: Double?
    var LastExecutionResult: JellyfinTaskResult?
    var Triggers: [JellyfinTriggerInfo]?
}

struct JellyfinTaskResult: Codable, Sendable, Equatable {
    var StartTimeUtc: String?
    var EndTimeUtc: String?
    var Status: String?
    var Name: String?
    var Key: String?
    var Id: String?
    var ErrorMessage: String?
    var LongErrorMessage: String?

    /// The Baton completion status for Jellyfin's TaskCompletionStatus.
    var completionStatus: Schemas.CompletionStatus {
        switch Status {
        case "Completed": return .succeeded
        case "Cancelled", "Aborted": return .cancelled
        default: return .failed
        }
    }

    /// The same run? (Jellyfin rewrites LastExecutionResult when a run ends.)
    func sameRun(as other: JellyfinTaskResult?) -> Bool {
        guard let other else { return false }
        return StartTimeUtc == other.StartTimeUtc && EndTimeUtc == other.EndTimeUtc && Status == other.Status
    }
}

struct JellyfinError: Error, CustomStringConvertible {
    var description: String
}

/// The few Jellyfin endpoints batonctl needs, through a plain URLSession.
struct JellyfinClient: Sendable {
    let baseURL: String
    let apiKey: String
    let session: URLSession

    init(baseURL: String, apiKey: String, timeout: Double = 15) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = max(1, timeout.rounded(.up))
        configuration.timeoutIntervalForResource = max(1, timeout.rounded(.up))
        session = URLSession(configuration: configuration)
    }

    private func request(_ method: String, _ path: String, body: Data? = nil) async throws -> (Int, Data) {
        guard let url = URL(string: baseURL + path) else { throw JellyfinError(description: "bad URL \(baseURL + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("MediaBrowser Token=\"\(apiKey)\"", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await session.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            return (status, data)
        } catch {
            throw JellyfinError(description: "\(method) \(path): \(BatonClient.describe(error))")
        }
    }

    private func expect(_ method: String, _ path: String, body: Data? = nil, ok: ClosedRange<Int> = 200...299) async throws -> Data {
        let (status, data) = try await request(method, path, body: body)
        guard ok.contains(status) else {
            var why = "\(method) \(path): HTTP \(status)"
            if status == 401 || status == 403 { why += " (check JELLYFIN_API_KEY / --jellyfin-api-key-file: an API key acts as administrator)" }
            let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { why += ": \(text)" }
            throw JellyfinError(description: why)
        }
        return data
    }

    func tasks() async throws -> [JellyfinTask] {
        let data = try await expect("GET", "/ScheduledTasks")
        do {
            return try JSONDecoder().decode([JellyfinTask].self, from: data)
        } catch {
            throw JellyfinError(description: "GET /ScheduledTasks: unexpected answer: \(BatonClient.describe(error))")
        }
    }

    func task(id: String) async throws -> JellyfinTask {
        let data = try await expect("GET", "/ScheduledTasks/\(id)")
        do {
            return try JSONDecoder().decode(JellyfinTask.self, from: data)
        } catch {
            throw JellyfinError(description: "GET /ScheduledTasks/\(id): unexpected answer: \(BatonClient.describe(error))")
        }
    }

    /// Finds a task by its Key (RefreshLibrary), or by its Id.
    func find(_ key: String) async throws -> JellyfinTask {
        let all = try await tasks()
        if let task = all.first(where: { $0.Key == key }) ?? all.first(where: { $0.Id.lowercased() == key.lowercased() }) {
            return task
        }
        let keys = all.compactMap(\.Key).sorted().joined(separator: ", ")
        throw JellyfinError(description: "Jellyfin has no scheduled task with Key \(key) (known: \(keys.isEmpty ? "none" : keys))")
    }

    func start(id: String) async throws {
        _ = try await expect("POST", "/ScheduledTasks/Running/\(id)")
    }

    func cancel(id: String) async throws {
        _ = try await expect("DELETE", "/ScheduledTasks/Running/\(id)")
    }

    func removeTriggers(id: String) async throws {
        _ = try await expect("POST", "/ScheduledTasks/\(id)/Triggers", body: Data("[]".utf8))
    }

    func setTriggers(id: String, _ triggers: [JellyfinTriggerInfo]) async throws {
        _ = try await expect("POST", "/ScheduledTasks/\(id)/Triggers", body: try JSONEncoder().encode(triggers))
    }
}

struct JellyfinOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Jellyfin's base URL (env JELLYFIN_URL; default http://127.0.0.1:8096).", valueName: "url"))
    var jellyfinUrl: String?

    @Option(help: ArgumentHelp("A file holding a Jellyfin API key (API keys act as administrator). Default: env JELLYFIN_API_KEY.", valueName: "file"))
    var jellyfinApiKeyFile: String?

    /// Refused: a key on the command line is readable by every process in /proc/PID/cmdline.
    @Option(help: .hidden)
    var jellyfinApiKey: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }
    var url: String { jellyfinUrl ?? environment["JELLYFIN_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8096" }

    /// The key from --jellyfin-api-key-file, else JELLYFIN_API_KEY.
    func apiKey() throws -> String {
        if let file = jellyfinApiKeyFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("--jellyfin-api-key-file \(file) cannot be read")
            }
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw ValidationError("--jellyfin-api-key-file \(file) is empty") }
            return key
        }
        if let key = environment["JELLYFIN_API_KEY"], !key.isEmpty { return key }
        throw ValidationError("no Jellyfin API key: set JELLYFIN_API_KEY or --jellyfin-api-key-file FILE (create the key in the dashboard: Administration > API Keys)")
    }

    mutating func validate() throws {
        if jellyfinApiKey != nil {
            throw ValidationError("--jellyfin-api-key is not accepted: a key on the command line is readable by any process in /proc; put it in JELLYFIN_API_KEY or a file named by --jellyfin-api-key-file")
        }
        guard URL(string: url)?.scheme?.hasPrefix("http") == true else {
            throw ValidationError("--jellyfin-url (or JELLYFIN_URL) must be an http:// or https:// URL")
        }
        _ = try apiKey()
    }

    func client(timeout: Double = 15) -> JellyfinClient { JellyfinClient(baseURL: url, apiKey: (try? apiKey()) ?? "", timeout: timeout) }
}

struct JellyfinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jellyfin",
        abstract: "Drive Jellyfin's scheduled tasks through Baton.",
        subcommands: [JellyfinScheduleCommand.self, JellyfinStatusCommand.self, JellyfinRestoreCommand.self, RunTask.self, DisableTriggers.self])

    struct DisableTriggers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable-triggers",
            abstract: "Remove a Jellyfin task's own triggers (keeps no copy: prefer `jellyfin schedule`, which saves them in Baton first).",
            discussion: "Looks the task up by Key in GET /ScheduledTasks and posts [] to /ScheduledTasks/{id}/Triggers. Exit 0 on success, 1 on any error. Idempotent.")

        @Option(help: ArgumentHelp("The task's Key, e.g. RefreshLibrary.", valueName: "key"))
        var task: String
        @OptionGroup var jellyfin: JellyfinOptions

        func run() async throws {
            let client = jellyfin.client()
            do {
                let found = try await client.find(task)
                try await client.removeTriggers(id: found.Id)
                printOut("removed the triggers of \(found.Key ?? task) (\(found.Id))")
            } catch {
                Log.info("\(error)")
                throw ExitCode(Exit.error)
            }
        }
    }

    struct RunTask: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-task",
            abstract: "Claim a Jellyfin scheduled task in Baton, run it in Jellyfin, record its result.",
            discussion: """
            Claims --task (and --slot) in Baton, looks the task's id up by Key in Jellyfin's \
            GET /ScheduledTasks, starts it (POST /ScheduledTasks/Running/{id}), polls until it \
            is idle again with a new LastExecutionResult, and completes the claim with its \
            status: Completed -> succeeded, Failed -> failed, Cancelled/Aborted -> cancelled. \
            The claim is extended every at-most/3 meanwhile; when it is lost the Jellyfin task \
            is cancelled (DELETE /ScheduledTasks/Running/{id}) and batonctl exits 76. When \
            Jellyfin cannot be reached the run is completed as cancelled (the slot stays open).

            Exit codes: 0 succeeded; 1 failed, cancelled or a Jellyfin error; 75 skipped; \
            76 claim lost; 69 Baton unavailable (see batonctl --help).
            """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var claim: ClaimOptions
        @OptionGroup var jellyfin: JellyfinOptions
        @OptionGroup var policy: RunPolicyOptions

        @Option(help: ArgumentHelp("How often to ask Jellyfin whether the task is done.", valueName: "duration"))
        var pollInterval = CLIDuration(milliseconds: 2000)

        @Option(help: ArgumentHelp("Give up when Jellyfin shows no sign of running the task after this long.", valueName: "duration"))
        var startTimeout = CLIDuration(milliseconds: 60_000)

        mutating func validate() throws {
            try Names.checkHolder(global.resolvedHolder)
            guard pollInterval.milliseconds >= 50 else { throw ValidationError("--poll-interval must be at least 50ms") }
        }

        func run() async throws {
            SignalCatcher.shared.install()
            let holder = global.resolvedHolder
            let timing = Timing(periodMs: claim.atMost.milliseconds, graceMs: policy.grace?.milliseconds)
            let client = try global.client(timeout: CLIDuration(milliseconds: timing.requestTimeoutMs(limit: global.timeout.milliseconds)))
            let jf = jellyfin.client()

            switch try await claim.obtain(client: client, holder: holder, policy: policy) {
            case .runLocally:
                let result = await drive(jf, lifeline: nil)
                Log.info("ran \(claim.task) in Jellyfin without Baton: \(result.detail)")
                throw ExitCode(result.status == .succeeded ? 0 : Exit.error)
            case .claimed(let state, let sent):
                let runId = state.run_id ?? ""
                let atMostMs = claim.atMost.milliseconds
                let validMs = min(atMostMs, Int64(state.expires_in_ms ?? Int(atMostMs)))
                let lifeline = Lifeline(deadline: sent + .milliseconds(validMs - timing.marginMs))
                Log.info("claimed \(claim.task)\(claim.slot.map { " slot \($0)" } ?? "") as \(holder) (run \(runId)): starting it in Jellyfin")
                let renewer = Supervisor.startRenewer(lifeline: lifeline, timing: timing, what: "claim on \(claim.task)",
                                                      keepAlive: claim.extender(client: client, runId: runId, holder: holder))
                let result = await drive(jf, lifeline: lifeline)
                renewer.cancel()
                if let lost = result.lost {
                    await claim.complete(client: client, runId: runId, holder: holder, status: .cancelled, detail: result.detail, attempts: 1)
                    Log.info("\(lost); exit \(Exit.lost)")
                    throw ExitCode(Exit.lost)
                }
                await claim.complete(client: client, runId: runId, holder: holder, status: result.status, detail: result.detail)
                Log.info("\(claim.task): \(result.detail); recorded as \(result.status.rawValue)")
                if let sig = result.signal { throw ExitCode(128 + sig) }
                throw ExitCode(result.status == .succeeded ? 0 : Exit.error)
            }
        }

        struct Result {
            var status: Schemas.CompletionStatus
            var detail: String
            var lost: String?
            var signal: Int32?
        }

        /// Starts the task in Jellyfin and waits until it has run.
        func drive(_ jf: JellyfinClient, lifeline: Lifeline?) async -> Result {
            let clock = ContinuousClock()
            let found: JellyfinTask
            do {
                found = try await jf.find(claim.task)
            } catch {
                return Result(status: .cancelled, detail: "Jellyfin: \(error)")
            }
            let before = found.LastExecutionResult
            let started = clock.now
            do {
                try await jf.start(id: found.Id)
            } catch {
                return Result(status: .cancelled, detail: "Jellyfin: \(error)")
            }

            var errors = 0
            var lastError = ""
            while true {
                try? await Task.sleep(for: pollInterval.duration)
                if let lifeline {
                    var why: String?
                    if let lost = lifeline.lost {
                        why = "the claim on \(claim.task) was lost (\(lost))"
                    } else if clock.now >= lifeline.deadline {
                        why = "the claim on \(claim.task) could not be extended in time (\(lifeline.lastFailure ?? "no answer"))"
                    }
                    if let why {
                        Log.loud(["\(why):", "cancelling the Jellyfin task \(found.Key ?? claim.task)"])
                        try? await jf.cancel(id: found.Id)
                        return Result(status: .cancelled, detail: "\(why); Jellyfin task cancelled", lost: why)
                    }
                }
                if let sig = SignalCatcher.shared.signal {
                    Log.info("got signal \(sig): cancelling the Jellyfin task \(found.Key ?? claim.task)")
                    try? await jf.cancel(id: found.Id)
                    return Result(status: .cancelled, detail: "batonctl got signal \(sig); Jellyfin task cancelled", signal: sig)
                }
                let now: JellyfinTask
                do {
                    now = try await jf.task(id: found.Id)
                    errors = 0
                } catch {
                    errors += 1
                    lastError = "\(error)"
                    if errors >= 5 {
                        return Result(status: .cancelled, detail: "Jellyfin stopped answering: \(lastError)")
                    }
                    continue
                }
                if now.State == "Running" || now.State == "Cancelling" {
                    continue
                }
                let changed = now.LastExecutionResult != nil && !(now.LastExecutionResult!.sameRun(as: before))
                // Jellyfin sets State to Idle a moment BEFORE it writes LastExecutionResult
                // (ScheduledTaskWorker.cs, v10.11.11, ExecuteInternal): only a changed result ends the run.
                if changed, let result = now.LastExecutionResult {
                    let took = Format.duration(ms: (clock.now - started).milliseconds)
                    var detail = "Jellyfin: \(result.Status ?? "unknown") after \(took)"
                    if let message = result.ErrorMessage, !message.isEmpty { detail += ": \(message)" }
                    return Result(status: result.completionStatus, detail: detail)
                }
                if clock.now - started >= startTimeout.duration {
                    return Result(status: .failed, detail: "Jellyfin did not run \(claim.task) within \(startTimeout) of the start request")
                }
            }
        }
    }
}
