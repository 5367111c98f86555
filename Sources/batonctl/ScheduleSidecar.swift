import Foundation

/// `batonctl jellyfin schedule`: beside each Jellyfin pod, keeps every library-wide task's
/// triggers in Baton (not in Jellyfin, which would run the task on every pod) and fires
/// each task by Jellyfin's trigger semantics (``FireTimes``), claiming the fire time as
/// the slot, so exactly one pod runs it.
///
/// One loop, every `poll`: read the pod's tasks (GET /ScheduledTasks), Baton's schedules
/// and task list; take over local triggers; record runs Jellyfin started by itself; fire
/// what is due. Each claimed run is driven by its own Task (``drive(_:)``).
actor ScheduleSidecar {
    let jf: JellyfinClient
    let baton: BatonClient
    let holder: String
    let options: ScheduleOptions
    let zone: TimeZone
    let policy: RunPolicyOptions
    let poll: Duration
    let claimTTLMs: Int64
    let startTimeout: Duration

    /// The newest LastExecutionResult seen per task (Baton name).
    var lastSeen: [String: JellyfinTaskResult] = [:]
    var observed: Set<String> = []
    /// Runs this sidecar drives now, by task.
    var active: [String: RunContext] = [:]
    /// Next Daily/Weekly fire per trigger (key: task, index, summary), in Unix ms.
    var pending: [String: Int64] = [:]
    /// Slots already tried per task (claimed, refused or run locally): never twice.
    var attempted: [String: [String]] = [:]
    var schedules: [String: Schemas.Schedule] = [:]
    var batonTasks: [String: Schemas.TaskSummary] = [:]
    var batonReachable = false
    var jellyfinUp: Bool?
    /// Startup triggers fire once Jellyfin is seen up: at the sidecar's start, and after
    /// Jellyfin was unreachable (a restart).
    var startupDue = true
    var orphansChecked = false
    /// Runs this sidecar drove to their end (a task list read before the end still shows them).
    var finishedRuns: [String] = []
    /// When a history row was first seen running with no claim behind it, by run id.
    var seenRunning: [String: Int64] = [:]
    var warnedUnknown: Set<String> = []

    init(jf: JellyfinClient, baton: BatonClient, holder: String, options: ScheduleOptions, zone: TimeZone,
         policy: RunPolicyOptions, poll: Duration, claimTTLMs: Int64, startTimeout: Duration) {
        self.jf = jf
        self.baton = baton
        self.holder = holder
        self.options = options
        self.zone = zone
        self.policy = policy
        self.poll = poll
        self.claimTTLMs = claimTTLMs
        self.startTimeout = startTimeout
    }

    var nowMs: Int64 { FireTimes.ms(Date()) }

    /// Runs until a signal arrives. Runs in progress are left to Jellyfin: the next
    /// sidecar adopts them from their claim (or the claim runs out after --at-most).
    func run() async {
        Log.info("jellyfin schedule: holder \(holder), Jellyfin \(jf.baseURL), Baton \(baton.baseURL), time zone \(zone.identifier)")
        while SignalCatcher.shared.signal == nil {
            await tick()
            try? await Task.sleep(for: poll)
        }
        let left = active.keys.sorted()
        Log.info("got signal \(SignalCatcher.shared.signal ?? 0): stopping" + (left.isEmpty ? "" : "; still running in Jellyfin: \(left.joined(separator: ", ")) (the next sidecar adopts them)"))
    }

    func tick() async {
        let tasks: [JellyfinTask]
        do {
            tasks = try await jf.tasks()
        } catch {
            if jellyfinUp != false { Log.warn("Jellyfin unreachable (\(error)); waiting for it") }
            jellyfinUp = false
            return
        }
        if jellyfinUp == false {
            Log.info("Jellyfin answers again (restarted?): its Startup triggers are due")
            startupDue = true
        }
        jellyfinUp = true
        await refreshBaton()
        if batonReachable {
            adoptOrphans(tasks, earlier: !orphansChecked)
            orphansChecked = true
        }
        for task in tasks where options.scope(of: task) == .library {
            await handle(task)
        }
        if batonReachable { startupDue = false }
    }

    /// Schedules and claims from Baton; on failure the last answers stay in use.
    func refreshBaton() async {
        do {
            let list = try await baton.schedules()
            let tasks = try await baton.tasks()
            remember(schedules: list, tasks: tasks.tasks)
            if !batonReachable { Log.info("Baton answers: \(schedules.count) saved schedules") }
            batonReachable = true
        } catch {
            if batonReachable { Log.warn("Baton unreachable (\(error)); using the schedules read before") }
            batonReachable = false
        }
    }

    /// What Baton said: the saved schedules and every task's claim and last run.
    func remember(schedules list: [Schemas.Schedule], tasks: [Schemas.TaskSummary]) {
        schedules = Dictionary(list.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
        batonTasks = Dictionary(tasks.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func handle(_ task: JellyfinTask) async {
        let name = ScheduleOptions.batonName(task)
        if let local = task.Triggers, !local.isEmpty {
            await takeOver(task, name: name, local: local)
        }
        if active[name] == nil {
            observe(task, name: name)
        }
        guard active[name] == nil, task.State == nil || task.State == "Idle" else { return }
        guard let schedule = schedules[name] else { return }
        let triggers = schedule.triggers.compactMap(Trigger.init(baton:))
        guard let fire = due(name: name, schedule: schedule, triggers: triggers) else { return }
        if attempted[name]?.contains(fire.slot) == true { return }
        await self.fire(task, name: name, fire: fire)
    }

    // MARK: local triggers

    /// Saves the pod's triggers as the task's schedule, then removes them locally: never
    /// the other way round, so nothing is lost when Baton is unreachable (the pod then
    /// keeps running the task by itself, which beats it never running).
    func takeOver(_ task: JellyfinTask, name: String, local: [JellyfinTriggerInfo]) async {
        let triggers = local.compactMap(Trigger.init(jellyfin:))
        guard triggers.count == local.count else {
            if warnedUnknown.insert(name).inserted {
                Log.warn("\(name): a trigger of a type batonctl does not know (\(local.map(\.Type).joined(separator: ", "))); leaving its triggers on this pod")
            }
            return
        }
        let before = schedules[name].map { $0.triggers.compactMap(Trigger.init(baton:)) }
        let note = before == nil ? "saved from \(holder) before removing its local triggers"
            : before == triggers ? "seen again on \(holder)" : "adopted a dashboard edit on \(holder)"
        let saved: Schemas.SavedSchedule
        do {
            saved = try await baton.saveSchedule(task: name, holder: holder, triggers: triggers.map(\.batonInput), note: note)
        } catch {
            Log.warn("\(name): could not save its triggers in Baton (\(error)); leaving them on this pod for now")
            return
        }
        schedules[name] = Schemas.Schedule(task: saved.task, triggers: saved.triggers, revision: saved.revision,
                                           first_saved_at: saved.first_saved_at, saved_at: saved.saved_at,
                                           saved_by: saved.saved_by, note: saved.note)
        do {
            try await jf.removeTriggers(id: task.Id)
        } catch {
            Log.warn("\(name): saved in Baton, but could not remove its triggers on this pod (\(error)); trying again")
            return
        }
        let summary = triggers.map(\.summary).joined(separator: ", ")
        switch saved.change {
        case .created:
            Log.info("\(name): saved its schedule (\(summary)) in Baton and removed its triggers on this pod")
        case .changed:
            let was = before?.map(\.summary).joined(separator: ", ") ?? "none"
            Log.info("\(name): ADOPTED a dashboard edit on this pod as the shared schedule: was \(was), now \(summary) (revision \(saved.revision)); removed it on this pod")
        case .unchanged:
            Log.info("\(name): removed its triggers on this pod again (\(summary), the same as Baton's schedule)")
        }
    }

    // MARK: external runs

    /// A changed LastExecutionResult with no run of ours: Jellyfin ran the task by itself.
    func observe(_ task: JellyfinTask, name: String) {
        guard let result = task.LastExecutionResult else {
            observed.insert(name)
            return
        }
        defer {
            observed.insert(name)
            if Self.isNewer(result, than: lastSeen[name]) { lastSeen[name] = result }
        }
        guard observed.contains(name), Self.isNewer(result, than: lastSeen[name]) else { return }
        let status = result.completionStatus
        let detail = "external run on \(holder): Jellyfin \(result.Status ?? "?")" + (result.ErrorMessage.map { ": \($0)" } ?? "")
        let baton = self.baton, holder = self.holder
        guard let start = result.startMs, let end = result.endMs else { return }
        Log.info("\(name): Jellyfin ran it by itself (\(result.Status ?? "?")); recording it in Baton as an external run")
        Task {
            for attempt in 1...5 {
                do {
                    _ = try await baton.recordExternalRun(task: name, holder: holder, status: status, startedAtMs: start,
                                                          finishedAtMs: max(start, end), detail: Format.utf8Prefix(detail, maxBytes: 4096))
                    return
                } catch let error as BatonError where error.isUnavailable && attempt < 5 {
                    try? await Task.sleep(for: .seconds(2))
                } catch {
                    Log.warn("\(name): could not record the external run (\(error))")
                    return
                }
            }
        }
    }

    /// A different result that started later (a snapshot taken before a run of ours ended
    /// must not count as someone else's run).
    static func isNewer(_ result: JellyfinTaskResult, than old: JellyfinTaskResult?) -> Bool {
        guard let old else { return true }
        if result.sameRun(as: old) { return false }
        guard let a = result.startMs, let b = old.startMs else { return true }
        return a > b || (a == b && (result.endMs ?? 0) > (old.endMs ?? 0))
    }

    // MARK: firing

    struct Fire: Equatable {
        var slot: String
        var atMs: Int64
        var maxRuntimeMs: Int64?
        /// The Daily/Weekly trigger to move on once this slot was tried.
        var pendingKey: String? = nil
        var trigger: Trigger? = nil
    }

    /// The earliest due fire of the task's triggers, if any is due.
    func due(name: String, schedule: Schemas.Schedule, triggers: [Trigger]) -> Fire? {
        let now = nowMs
        var best: Fire?
        let tried = attempted[name] ?? []
        func consider(_ f: Fire) {
            if f.atMs <= now, !tried.contains(f.slot), best == nil || f.atMs < best!.atMs { best = f }
        }
        let summary = batonTasks[name]
        let running = summary?.claim != nil || historyShowsRunning(summary, now: now)
        for (i, t) in triggers.enumerated() {
            switch t.kind {
            case .interval:
                // Nothing fires while a run is in progress anywhere or not yet in the history.
                guard !running, let interval = t.intervalMs else { continue }
                let last = summary?.last_run
                var start = last?.claimed_at.map(FireTimes.ms), end = last?.finished_at.map(FireTimes.ms)
                // Baton unreachable: its history is frozen, so runs made meanwhile without it
                // (this pod's own results) count too, or the task would run once per outage.
                if !batonReachable, let own = lastSeen[name] {
                    start = [start, own.startMs].compactMap { $0 }.max()
                    end = [end, own.endMs].compactMap { $0 }.max()
                }
                let at = FireTimes.interval(intervalMs: interval, lastStartMs: start, lastEndMs: end,
                                            firstSavedAtMs: FireTimes.ms(schedule.first_saved_at),
                                            neverRunDelayMs: options.firstRunDelay.milliseconds)
                consider(Fire(slot: FireTimes.slot(ms: at), atMs: at, maxRuntimeMs: t.maxRuntimeMs))
            case .daily, .weekly:
                let key = "\(name)#\(i)#\(t.summary)"
                if pending[key] == nil { pending[key] = FireTimes.ms(nextLocal(t, after: Date())) }
                let at = pending[key]!
                consider(Fire(slot: FireTimes.slot(ms: at), atMs: at, maxRuntimeMs: t.maxRuntimeMs, pendingKey: key, trigger: t))
            case .startup:
                // Once per Jellyfin start, unless the task ran on any pod within the window
                // (pods starting together, or one restarting soon after, share that run).
                guard startupDue, !running else { continue }
                let window = options.startupWindow.milliseconds
                if let last = summary?.last_run, let at = last.claimed_at ?? last.finished_at, now - FireTimes.ms(at) < window { continue }
                consider(Fire(slot: FireTimes.startupSlot(nowMs: now, windowMs: window), atMs: now, maxRuntimeMs: t.maxRuntimeMs))
            }
        }
        return best
    }

    /// History shows the last run still running although Redis has no claim: its completion
    /// is on its way to PostgreSQL (a moment), or its claim ran out with no completion (a
    /// sidecar that never came back). Only the first blocks firing; after `staleAfterMs`
    /// the row is taken for dead, or the task would never run again.
    func historyShowsRunning(_ summary: Schemas.TaskSummary?, now: Int64) -> Bool {
        guard let last = summary?.last_run, last.status == .running else { return false }
        let first = seenRunning[last.run_id] ?? now
        seenRunning[last.run_id] = first
        if seenRunning.count > 256 { seenRunning = [last.run_id: first] }
        return now - first < Self.staleAfterMs
    }

    static let staleAfterMs: Int64 = 30_000

    func markAttempted(_ name: String, _ fire: Fire) {
        var list = attempted[name] ?? []
        list.append(fire.slot)
        attempted[name] = Array(list.suffix(64))
        if let key = fire.pendingKey, let t = fire.trigger {
            // The same trigger's next occurrence after this one.
            pending[key] = FireTimes.ms(nextLocal(t, after: Date(timeIntervalSince1970: Double(fire.atMs) / 1000)))
        }
    }

    func nextLocal(_ t: Trigger, after: Date) -> Date {
        let weekday = t.kind == .weekly ? t.dayOfWeek.flatMap { Trigger.days.firstIndex(of: $0) } : nil
        return FireTimes.nextLocal(after: after, timeOfDayMs: t.timeOfDayMs ?? 0, weekday: weekday, zone: zone)
    }

    func fire(_ task: JellyfinTask, name: String, fire: Fire) async {
        let breaker = policy.breaker(key: "task-\(name)")
        let atMost = claimTTLMs
        do {
            let answer = try await baton.claim(task: name, holder: holder, slot: fire.slot, atMostMs: Int(atMost), atLeastMs: 0)
            breaker.recordSuccess()
            markAttempted(name, fire)
            switch answer {
            case .ok(let c) where c.claimed && c.run_id != nil:
                if c.mode == .degraded {
                    Log.warn("\(name): Baton granted slot \(fire.slot) in DEGRADED mode (its Redis is unreachable): another pod may run it too")
                }
                start(RunContext(name: name, jellyfinId: task.Id, slot: fire.slot, runId: c.run_id, claimedAtMs: c.claimed_at.map(FireTimes.ms),
                                 maxRuntimeMs: fire.maxRuntimeMs, before: task.LastExecutionResult, alreadyStarted: false))
            case .ok(let c), .conflict(let c):
                Log.info("\(name): slot \(fire.slot) not for this pod: \(ClaimOptions.explain(c))")
            }
        } catch BatonError.unavailable(let why) {
            switch policy.decide(after: why, breaker: breaker, url: baton.baseURL, what: "task \(name) slot \(fire.slot)", waiting: false) {
            case .runLocally:
                markAttempted(name, fire)
                start(RunContext(name: name, jellyfinId: task.Id, slot: fire.slot, runId: nil, claimedAtMs: nil,
                                 maxRuntimeMs: fire.maxRuntimeMs, before: task.LastExecutionResult, alreadyStarted: false))
            case .retry, .giveUp:
                break  // tried again at the next poll
            }
        } catch BatonError.conflict(let why) {
            breaker.recordSuccess()
            markAttempted(name, fire)
            Log.info("\(name): slot \(fire.slot) not for this pod: \(why)")
        } catch {
            markAttempted(name, fire)
            Log.warn("\(name): could not claim slot \(fire.slot): \(error)")
        }
    }
}
