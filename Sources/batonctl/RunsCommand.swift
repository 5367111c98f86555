import ArgumentParser
import Foundation

/// `batonctl runs --since 24h [--task T]`: runs across tasks with their pods, newest first
/// ("did RefreshLibrary run twice last night, on which pods?").
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "Runs of every task (or one) since a time ago, newest first, with the pod that ran each.",
        discussion: """
        Reads GET /tasks, then GET /tasks/{task}/runs for each task (at most --per-task runs each, \
        newest first). Overlapping runs of one task are marked OVERLAP. Exit 69 when Baton or its \
        history is unavailable.
        """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("How far back, e.g. 1h, 24h, 7d (at most 31d).", valueName: "duration"))
    var since: CLIDuration = CLIDuration(milliseconds: 86_400_000)
    @Option(help: ArgumentHelp("Only this task.", valueName: "task"))
    var task: String?
    @Option(name: .customLong("per-task"), help: ArgumentHelp("Runs read per task (1-1000).", valueName: "n"))
    var perTask: Int = 1_000

    mutating func validate() throws {
        guard since.milliseconds >= 1_000, since.milliseconds <= 31 * 86_400_000 else {
            throw ValidationError("--since must be from 1s to 31d")
        }
        guard (1...1000).contains(perTask) else { throw ValidationError("--per-task must be 1-1000") }
        if let task { try Names.checkName(task, "--task") }
    }

    func run() async throws {
        let client = try global.client()
        let names: [String]
        if let task {
            names = [task]
        } else {
            names = try await reading { try await client.tasks() }.tasks.map(\.task)
        }
        var histories: [(String, [Schemas.Run])] = []
        for name in names {
            let h = try await reading { try await client.runs(task: name, limit: perTask) }
            histories.append((name, h.runs))
        }
        let now = Date()
        let runs = RunsView.select(histories, since: now.addingTimeInterval(-since.seconds))
        if global.json {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(runs.map(\.run)) + Data("\n".utf8))
            return
        }
        if runs.isEmpty {
            printOut("no runs since \(Format.shortTime(now.addingTimeInterval(-since.seconds)))\(task.map { " of \($0)" } ?? "")")
            return
        }
        printOut(RunsView.render(runs))
    }
}

/// Picking and showing runs across tasks.
enum RunsView {
    struct Row {
        let run: Schemas.Run
        /// Another run of the same task was going at the same time.
        let overlaps: Bool
    }

    static func start(_ r: Schemas.Run) -> Date? { r.claimed_at ?? r.finished_at }

    /// Runs that started (or, without a known start, finished) after `since`, or are still
    /// going; newest first; overlaps computed per task.
    static func select(_ histories: [(String, [Schemas.Run])], since: Date) -> [Row] {
        var rows: [Row] = []
        for (_, runs) in histories {
            let recent = runs.filter { r in
                guard let s = start(r) else { return false }
                return s >= since || (r.finished_at ?? .distantFuture) >= since
            }
            for r in recent {
                guard let s = start(r) else { continue }
                let e = r.finished_at ?? .distantFuture
                let overlaps = recent.contains { o in
                    guard o.run_id != r.run_id, let os = start(o) else { return false }
                    return os < e && s < (o.finished_at ?? .distantFuture)
                }
                rows.append(Row(run: r, overlaps: overlaps))
            }
        }
        return rows.sorted { (start($0.run) ?? .distantPast, $0.run.run_id) > (start($1.run) ?? .distantPast, $1.run.run_id) }
    }

    static func render(_ rows: [Row]) -> String {
        var t = Table("STARTED", "TASK", "POD", "STATUS", "TOOK", "SLOT", "RUN")
        for row in rows {
            let r = row.run
            var status = r.status.rawValue
            if r.late { status += " (late)" }
            if r.mode == .degraded { status += " (degraded)" }
            if row.overlaps { status += " OVERLAP" }
            t.add(Format.shortTime(start(r)), r.task, r.holder, status, Format.duration(ms: r.duration_ms), r.slot ?? "-", r.run_id)
        }
        let overlapping = rows.filter(\.overlaps).count
        return t.render() + "\n\(rows.count) runs" + (overlapping > 0 ? ", \(overlapping) overlapping another run of the same task" : "")
    }
}
