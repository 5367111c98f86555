import ArgumentParser
import Foundation

struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Tasks: current claims and run history.",
        subcommands: [List.self, Runs.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every known task with its current claim and last run (GET /tasks).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let client = try global.client()
            let tasks = try await reading { try await client.tasks() }
            if global.json { try client.printRawJSON("listTasks"); return }
            printOut(StatusView.render(url: client.baseURL, status: nil, leases: nil, tasks: tasks, errors: [:])
                .trimmingCharacters(in: .newlines))
        }
    }

    struct Runs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A task's run history, newest first (GET /tasks/{task}/runs).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The task's name.", valueName: "task"))
        var task: String
        @Option(help: ArgumentHelp("At most this many runs (1-1000).", valueName: "n"))
        var limit: Int = 20

        mutating func validate() throws {
            try Names.checkName(task, "task")
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1-1000") }
        }

        func run() async throws {
            let client = try global.client()
            let history = try await reading { try await client.runs(task: task, limit: limit) }
            if global.json { try client.printRawJSON("listTaskRuns"); return }
            if history.runs.isEmpty { printOut("no runs of \(task) recorded"); return }
            var t = Table("CLAIMED", "HOLDER", "SLOT", "TOKEN", "STATUS", "TOOK", "DETAIL", "RUN")
            for r in history.runs {
                var status = r.status.rawValue
                if r.late { status += " (late)" }
                if r.mode == .degraded { status += " (degraded)" }
                t.add(Format.shortTime(r.claimed_at), r.holder, r.slot ?? "-", r.fencing_token.map(String.init) ?? "-",
                      status, Format.duration(ms: r.duration_ms), r.detail.map { Format.truncate($0, 50) } ?? "-", r.run_id)
            }
            printOut(t.render())
        }
    }
}
