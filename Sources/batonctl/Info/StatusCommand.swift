import ArgumentParser
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Leases, tasks, backends, breakers and outbox at a glance.",
        discussion: "Reads GET /status, GET /leases and GET /tasks. A part that cannot be read is shown as unavailable; the exit code is then 69 (1 for other errors). With --watch, redraws in place until Ctrl-C.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Redraw every --interval until interrupted (see StatusWatch).")
    var watch = false
    @Option(help: ArgumentHelp("With --watch: time between redraws, 1s-5m.", valueName: "duration"))
    var interval: CLIDuration = CLIDuration(milliseconds: 2_000)

    mutating func validate() throws {
        guard StatusWatch.intervalRange.contains(interval.milliseconds) else { throw ValidationError("--interval must be from 1s to 5m") }
        if watch && global.json { throw ValidationError("--watch shows the table view; it cannot be combined with --json") }
    }

    func run() async throws {
        let client = try global.client()
        if watch { try await StatusWatch.run(client: client, intervalMs: interval.milliseconds) }
        async let statusResult = capture { try await client.status() }
        async let leasesResult = capture { try await client.leases() }
        async let tasksResult = capture { try await client.tasks() }
        let (status, leases, tasks) = await (statusResult, leasesResult, tasksResult)

        var errors: [String: String] = [:]
        var worst: Int32 = 0
        func note(_ part: String, _ error: BatonError?) {
            guard let error else { return }
            errors[part] = error.description
            worst = max(worst, error.isUnavailable ? Exit.unavailable : Exit.error)
        }
        note("status", status.error)
        note("leases", leases.error)
        note("tasks", tasks.error)
        if errors.count == 3, let e = status.error {
            // Nothing could be read: one line, not three.
            Log.info(e.description)
            throw ExitCode(worst)
        }

        if global.json {
            // What Baton said, unchanged: {"status": /status, "leases": /leases' list,
            // "tasks": /tasks, "errors": {part: message}}; a part that failed is null.
            var combined: [String: Any] = ["errors": errors]
            combined["status"] = status.value != nil ? client.rawJSON("getStatus") ?? NSNull() : NSNull()
            let leaseList = leases.value != nil ? client.rawJSON("listLeases") as? [String: Any] : nil
            combined["leases"] = leaseList?["leases"] ?? NSNull()
            combined["tasks"] = tasks.value != nil ? client.rawJSON("listTasks") ?? NSNull() : NSNull()
            try JSON.printObject(combined)
        } else {
            printOut(StatusView.render(url: client.baseURL, status: status.value, leases: leases.value?.leases,
                                       tasks: tasks.value, errors: errors))
        }
        if worst != 0 { throw ExitCode(worst == Exit.unavailable ? Exit.unavailable : Exit.error) }
    }
}
