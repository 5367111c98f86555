import ArgumentParser
import Foundation

/// `batonctl jellyfin schedule`: the sidecar (see ``ScheduleSidecar``).
struct JellyfinScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Run beside a Jellyfin pod: every library-wide task runs once across replicas, on Jellyfin's own schedule.",
        discussion: """
        Reads the pod's tasks (GET /ScheduledTasks, plugins' included). Per-pod tasks \
        (\(ScheduleOptions.defaultPerPod.joined(separator: ", ")), and --per-pod KEY) keep \
        their own triggers; --skip KEY leaves a task alone; every other task is \
        library-wide: its triggers are saved in Baton (PUT /schedules/{task}) and only then \
        removed on the pod. Triggers that show up on the pod again (a dashboard edit) are \
        adopted as the new shared schedule, and the log says so.

        Every pod computes the same fire times: Interval from the task's last run anywhere \
        (Baton's history; never run: --first-run-delay after its schedule was first saved); \
        Daily and Weekly at local time in --time-zone or TZ (a time skipped by DST fires \
        that many hours after midnight, a repeated one at its first occurrence, as \
        Jellyfin); Startup when this pod's Jellyfin starts or restarts, unless the task ran on \
        any pod within --startup-window (pods starting together share one run, slot \
        startup@<window start>). Each fire \
        is POST /tasks/claim with the fire time as slot: the winner starts the task on its \
        pod, extends the claim while it runs, cancels it at its MaxRuntime \
        (DELETE /ScheduledTasks/Running/{id}), waits for a changed LastExecutionResult and \
        completes the claim: Completed succeeded, Failed failed (with ErrorMessage), \
        Cancelled/Aborted cancelled. Runs Jellyfin starts by itself (dashboard Run button, \
        library changes) are recorded as external runs (POST /tasks/{task}/runs).

        When Baton is unreachable for --breaker-threshold fires in a row, a due task runs \
        on this pod without coordination (--on-unavailable run), loudly. A sidecar \
        restarted mid-run adopts its claim and waits for the run instead of starting another.

        The API key comes from JELLYFIN_API_KEY or --jellyfin-api-key-file, never from the \
        command line. Undo with `batonctl jellyfin restore`.
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var jellyfin: JellyfinOptions
    @OptionGroup var schedule: ScheduleOptions
    @OptionGroup var policy: RunPolicyOptions

    @Option(help: ArgumentHelp("How often to read the pod's tasks and Baton's schedules.", valueName: "duration"))
    var pollInterval = CLIDuration(milliseconds: 5_000)

    @Option(name: .customLong("at-most"), help: ArgumentHelp("A claim runs out this long after its last extension when the sidecar dies (lock_at_most).", valueName: "duration"))
    var atMost = CLIDuration(milliseconds: 600_000)

    @Option(help: ArgumentHelp("Give up on a run Jellyfin shows no sign of after this long.", valueName: "duration"))
    var startTimeout = CLIDuration(milliseconds: 60_000)

    mutating func validate() throws {
        try Names.checkHolder(global.resolvedHolder)
        guard pollInterval.milliseconds >= 100 else { throw ValidationError("--poll-interval must be at least 100ms") }
        guard atMost.milliseconds >= 3_000, atMost.milliseconds <= 604_800_000 else { throw ValidationError("--at-most must be from 3s to 7d") }
    }

    func run() async throws {
        SignalCatcher.shared.install()
        let sidecar = ScheduleSidecar(
            jf: jellyfin.client(), baton: try global.client(), holder: global.resolvedHolder, options: schedule,
            zone: try schedule.zone(), policy: policy, poll: pollInterval.duration, claimTTLMs: atMost.milliseconds,
            startTimeout: startTimeout.duration)
        await sidecar.run()
        if let sig = SignalCatcher.shared.signal { throw ExitCode(128 + sig) }
    }
}

/// `batonctl jellyfin restore`: the saved triggers back on the local pod.
struct JellyfinRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put the schedules saved in Baton back on the local Jellyfin pod (to remove Baton).",
        discussion: """
        For every task of the pod with a schedule in Baton (or only --task KEY), posts the \
        saved triggers to /ScheduledTasks/{id}/Triggers. Jellyfin writes them to the shared \
        trigger file: the other pods load them at their next restart. Stop the sidecars \
        first, or they take the triggers over again. Exit 0 when every task was restored.
        """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var jellyfin: JellyfinOptions

    @Option(help: ArgumentHelp("Only this task (Key); repeatable.", valueName: "key"))
    var task: [String] = []

    func run() async throws {
        let jf = jellyfin.client()
        let baton = try global.client()
        var failed = 0
        do {
            let saved = Dictionary(try await baton.schedules().map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
            for t in try await jf.tasks() {
                let name = ScheduleOptions.batonName(t)
                guard task.isEmpty || task.contains(t.Key ?? "") || task.contains(name), let s = saved[name] else { continue }
                let triggers = s.triggers.compactMap(Trigger.init(baton:))
                do {
                    try await jf.setTriggers(id: t.Id, triggers.map(\.jellyfin))
                    printOut("\(name): restored \(triggers.map(\.summary).joined(separator: ", ")) (revision \(s.revision))")
                } catch {
                    failed += 1
                    Log.warn("\(name): \(error)")
                }
            }
        } catch {
            Log.info("\(error)")
            throw ExitCode(Exit.error)
        }
        if failed > 0 { throw ExitCode(Exit.error) }
    }
}

/// `batonctl jellyfin status`: per task, schedule, next fire, last run, local triggers.
struct JellyfinStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each Jellyfin task: scope, shared schedule, next fire, last run anywhere, local triggers.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var jellyfin: JellyfinOptions
    @OptionGroup var schedule: ScheduleOptions

    func run() async throws {
        let jf = jellyfin.client()
        let baton = try global.client()
        let zone = try schedule.zone()
        do {
            let tasks = try await jf.tasks()
            let saved = Dictionary(try await baton.schedules().map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
            let runs = Dictionary(try await baton.tasks().tasks.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
            var table = Table("TASK", "SCOPE", "SCHEDULE", "NEXT FIRE", "LAST RUN", "LOCAL TRIGGERS")
            let local = DateFormatter()
            local.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
            local.timeZone = zone
            for t in tasks.sorted(by: { ScheduleOptions.batonName($0) < ScheduleOptions.batonName($1) }) {
                let name = ScheduleOptions.batonName(t)
                let scope = schedule.scope(of: t)
                let triggers = saved[name]?.triggers.compactMap(Trigger.init(baton:)) ?? []
                var next = "-"
                if scope == .library, let s = saved[name] {
                    next = Self.nextFire(triggers, schedule: s, summary: runs[name], options: schedule, zone: zone).map { local.string(from: $0) } ?? "-"
                }
                var last = "-"
                if let r = runs[name]?.last_run {
                    let took = r.duration_ms.map { Format.duration(ms: Int64($0)) } ?? "running"
                    last = "\(r.status.rawValue) on \(r.holder), \(Format.ago(r.claimed_at ?? r.finished_at)), \(took)" + (r.external == true ? " (external)" : "")
                }
                let own = (t.Triggers ?? []).compactMap(Trigger.init(jellyfin:)).map(\.summary).joined(separator: ", ")
                table.add(name, scope.rawValue, triggers.isEmpty ? "-" : triggers.map(\.summary).joined(separator: ", "), next, last,
                          own.isEmpty ? "none" : own)
            }
            printOut(table.render())
        } catch {
            Log.info("\(error)")
            throw ExitCode(Exit.error)
        }
    }

    /// The earliest next fire (Startup triggers have none to show).
    static func nextFire(_ triggers: [Trigger], schedule: Schemas.Schedule, summary: Schemas.TaskSummary?, options: ScheduleOptions,
                         zone: TimeZone) -> Date? {
        let now = Date()
        return triggers.compactMap { t -> Date? in
            switch t.kind {
            case .interval:
                let at = FireTimes.interval(intervalMs: t.intervalMs ?? 0, lastStartMs: summary?.last_run?.claimed_at.map(FireTimes.ms),
                                            lastEndMs: summary?.last_run?.finished_at.map(FireTimes.ms),
                                            firstSavedAtMs: FireTimes.ms(schedule.first_saved_at), neverRunDelayMs: options.firstRunDelay.milliseconds)
                return Date(timeIntervalSince1970: Double(at) / 1000)
            case .daily, .weekly:
                let weekday = t.kind == .weekly ? t.dayOfWeek.flatMap { Trigger.days.firstIndex(of: $0) } : nil
                return FireTimes.nextLocal(after: now, timeOfDayMs: t.timeOfDayMs ?? 0, weekday: weekday, zone: zone)
            case .startup:
                return nil
            }
        }.min()
    }
}
