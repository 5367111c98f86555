import Foundation

/// One run of a task on this pod, claimed in Baton (`runId`) or, with Baton unavailable
/// past the breaker threshold, run without coordination (`runId` nil).
struct RunContext: Sendable {
    var name: String
    var jellyfinId: String
    var slot: String?
    var runId: String?
    var claimedAtMs: Int64?
    var maxRuntimeMs: Int64?
    /// LastExecutionResult before the run: the run is over when it changes.
    var before: JellyfinTaskResult?
    /// Adopted from an earlier sidecar: already started in Jellyfin, `before` unknown.
    var alreadyStarted: Bool
    /// How long Jellyfin may show no sign of the run before it is given up (nil: --start-timeout).
    var idleLimit: Duration? = nil
}

extension ScheduleSidecar {
    func start(_ run: RunContext) {
        active[run.name] = run
        Task { await self.drive(run) }
    }

    /// Claims of this holder left by an earlier sidecar (killed mid-run): drive them to
    /// their end instead of starting the task again. Jellyfin's own state says whether the
    /// run is still going (Running) or has ended (a result newer than the claim).
    ///
    /// Later (`earlier: false`), a claim of this holder that no run of this sidecar drives
    /// was granted after its request had timed out (Baton slow or frozen): nothing started
    /// it, so unless Jellyfin shows the task running it is completed as cancelled within a
    /// few seconds instead of blocking the task until lock_at_most.
    func adoptOrphans(_ tasks: [JellyfinTask], earlier: Bool) {
        for summary in batonTasks.values {
            guard let claim = summary.claim, claim.holder == holder, let runId = claim.run_id, claim.state == .running,
                  active[summary.task] == nil, !finishedRuns.contains(runId),
                  let task = tasks.first(where: { ScheduleOptions.batonName($0) == summary.task }) else { continue }
            let whose = earlier ? "left by an earlier sidecar" : "granted after its request had timed out"
            Log.info("\(summary.task): adopting run \(runId) (slot \(claim.slot ?? "none")) \(whose); Jellyfin shows it \(task.State ?? "?")")
            start(RunContext(name: summary.task, jellyfinId: task.Id, slot: claim.slot, runId: runId,
                             claimedAtMs: claim.claimed_at.map(FireTimes.ms), maxRuntimeMs: nil, before: nil, alreadyStarted: true,
                             idleLimit: earlier ? nil : .seconds(3)))
        }
    }

    /// Is `result` the end of `run`? A different result than before the run, newer; for an
    /// adopted run (no `before`), one that started after the claim was taken.
    static func ends(_ run: RunContext, _ result: JellyfinTaskResult?) -> Bool {
        guard let result else { return false }
        if run.alreadyStarted {
            guard let claimed = run.claimedAtMs, let start = result.startMs else { return false }
            // Baton's and the pod's clocks may differ a little.
            return start >= claimed - 5_000
        }
        return isNewer(result, than: run.before)
    }

    func drive(_ run: RunContext) async {
        let clock = ContinuousClock()
        let began = clock.now
        let what = "\(run.name)" + (run.slot.map { " slot \($0)" } ?? "")
        var lifeline: Lifeline?
        var renewer: Task<Void, Never>?
        defer {
            renewer?.cancel()
            active[run.name] = nil
            if let id = run.runId {
                finishedRuns.append(id)
                if finishedRuns.count > 256 { finishedRuns.removeFirst(finishedRuns.count - 256) }
            }
        }
        if let runId = run.runId {
            let timing = Timing(periodMs: claimTTLMs)
            let line = Lifeline(deadline: began + .milliseconds(claimTTLMs - timing.marginMs))
            lifeline = line
            let baton = self.baton, holder = self.holder, ttl = claimTTLMs, name = run.name
            // MaxRuntime binds the claim too: no extension past it (plus one TTL for the cancel).
            let extendUntil = run.maxRuntimeMs.map { began + .milliseconds($0 + ttl) }
            renewer = Supervisor.startRenewer(lifeline: line, timing: timing, what: "claim on \(what)") {
                if let until = extendUntil, ContinuousClock().now > until { return .failed("past MaxRuntime") }
                do {
                    switch try await baton.extend(task: name, runId: runId, holder: holder, atMostMs: Int(ttl)) {
                    case .ok(let c): return .kept(validForMs: min(ttl, Int64(c.expires_in_ms ?? Int(ttl))))
                    case .conflict(let c): return .lost(c.holder.map { "now held by \($0)" } ?? "the claim expired")
                    }
                } catch BatonError.conflict(let why) {
                    return .lost(why)
                } catch {
                    return .failed("\(error)")
                }
            }
        }
        if !run.alreadyStarted {
            do {
                try await jf.start(id: run.jellyfinId)
            } catch {
                await complete(run, .cancelled, "could not start it in Jellyfin: \(error)")
                return
            }
            Log.info("\(what): started on this pod" + (run.runId.map { " (run \($0))" } ?? " WITHOUT Baton (unavailable)"))
        }
        var cancelSent = false
        var idleSince: ContinuousClock.Instant?
        var unreachableSince: ContinuousClock.Instant?
        let step = min(poll, .seconds(1))
        while true {
            try? await Task.sleep(for: step)
            if let line = lifeline {
                let why = line.lost.map { "the claim was lost (\($0))" }
                    ?? (clock.now >= line.deadline ? "the claim could not be extended in time (\(line.lastFailure ?? "no answer"))" : nil)
                if let why {
                    Log.loud(["\(what): \(why):", "cancelling it in Jellyfin (DELETE /ScheduledTasks/Running/\(run.jellyfinId))"])
                    try? await jf.cancel(id: run.jellyfinId)
                    await complete(run, .cancelled, "\(why); cancelled in Jellyfin", attempts: 1)
                    return
                }
            }
            if let max = run.maxRuntimeMs, !cancelSent, clock.now - began >= .milliseconds(max) {
                cancelSent = true
                Log.info("\(what): ran longer than its MaxRuntime \(CLIDuration(milliseconds: max)): cancelling it in Jellyfin")
                try? await jf.cancel(id: run.jellyfinId)
            }
            let now: JellyfinTask
            do {
                now = try await jf.task(id: run.jellyfinId)
                unreachableSince = nil
            } catch {
                // Jellyfin restarting: keep the claim; its shutdown writes an Aborted result.
                if unreachableSince == nil {
                    unreachableSince = clock.now
                    Log.warn("\(what): Jellyfin unreachable during the run (\(error)); waiting")
                }
                idleSince = nil
                continue
            }
            if Self.ends(run, now.LastExecutionResult), let result = now.LastExecutionResult {
                if Self.isNewer(result, than: lastSeen[run.name]) { lastSeen[run.name] = result }
                observed.insert(run.name)
                let took = Format.duration(ms: (clock.now - began).milliseconds)
                var detail = "Jellyfin \(result.Status ?? "?") on \(holder) after \(took)"
                if let message = result.ErrorMessage, !message.isEmpty { detail += ": \(message)" }
                await complete(run, result.completionStatus, detail)
                return
            }
            // Idle alone is not the end: the result is written a moment after Idle.
            if now.State == "Running" || now.State == "Cancelling" {
                idleSince = nil
                continue
            }
            if idleSince == nil { idleSince = clock.now }
            if let since = idleSince, clock.now - since >= (run.idleLimit ?? startTimeout) {
                let why = run.alreadyStarted ? "Jellyfin shows no run since the claim (the earlier sidecar stopped before it started, or Jellyfin restarted)"
                    : "Jellyfin did not run it within \(startTimeout) of the start request"
                await complete(run, .cancelled, why)
                return
            }
        }
    }

    /// POST /tasks/complete, retried while Baton is unavailable.
    func complete(_ run: RunContext, _ status: Schemas.CompletionStatus, _ detail: String, attempts: Int = 5) async {
        let what = "\(run.name)" + (run.slot.map { " slot \($0)" } ?? "")
        guard let runId = run.runId else {
            Log.info("\(what): \(detail) (\(status.rawValue); not recorded: Baton was unavailable)")
            return
        }
        for attempt in 1...attempts {
            do {
                switch try await baton.complete(task: run.name, runId: runId, holder: holder, status: status,
                                                detail: Format.utf8Prefix(detail, maxBytes: 4096)) {
                case .ok:
                    Log.info("\(what): \(detail); recorded as \(status.rawValue)")
                case .conflict:
                    Log.warn("\(what): \(detail); recorded late (the claim had expired)")
                }
                return
            } catch let error as BatonError where error.isUnavailable && attempt < attempts {
                try? await Task.sleep(for: .seconds(1))
            } catch {
                Log.warn("\(what): could not record the result \(status.rawValue) (\(error)); the claim expires after --at-most")
                return
            }
        }
    }
}
