import BatonCore

/// The incident page's HTML: who leads, what ran where, and whether Baton is degraded.
/// Every value from a client or a backend goes through ``HTML/escape(_:)``.
struct IncidentPage {
    let snapshot: IncidentSnapshot
    let version: String
    let onRedisFailure: FailurePolicy
    let warnings: [String]
    /// Whether to offer a logout button (not in `BATON_UI=open`).
    let loggedIn: Bool

    /// Rows of the run table at most; the timeline shows every run in the window.
    static let runTableRows = 300

    func render() -> String {
        var b = header()
        b += "<main>"
        b += warningsSection()
        b += backendsSection()
        b += timelineSection()
        b += leasesSection()
        b += tasksSection()
        b += runsSection()
        b += "</main>"
        return PageSecurity.document(title: "Baton incident view", body: b)
    }

    private var s: IncidentSnapshot { snapshot }
    private func e(_ v: String?) -> String { v.map(HTML.escape) ?? "–" }

    private func header() -> String {
        var o = "<header><h1>Baton incident view</h1><span class=\"meta\">batond \(e(version)) · page made \(HTML.time(s.nowMs)) · "
        o += "times in UTC</span><span class=\"ranges\">"
        for r in IncidentSnapshot.Range.allCases {
            o += "<a href=\"/ui?range=\(r.rawValue)\"\(r == s.range ? " class=\"on\"" : "")>\(r.rawValue)</a>"
        }
        o += "</span>"
        if loggedIn {
            o += "<form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Log out</button></form>"
        }
        return o + "</header>"
    }

    private func warningsSection() -> String {
        var w = warnings
        if s.outbox.dropped > 0 { w.append("\(s.outbox.dropped) history rows were dropped because the outbox was full") }
        for err in [s.leasesError, s.tasksError, s.historyError].compactMap({ $0 }) { w.append(err) }
        guard !w.isEmpty else { return "" }
        return "<section class=\"warnings\" id=\"warnings\"><h2>Warnings</h2><ul>" + w.map { "<li>\(e($0))</li>" }.joined() + "</ul></section>"
    }

    private func backendsSection() -> String {
        var o = "<section id=\"backends\"><h2>Backends and breakers</h2><table><tr><th>backend</th><th>breaker</th>"
        o += "<th>consecutive failures</th><th>failures</th><th>times opened</th><th>last error</th></tr>"
        for b in s.breakers {
            o += "<tr data-backend=\"\(b.backend.rawValue)\"><td>\(b.backend.rawValue)</td><td><span class=\"pill \(b.state.rawValue)\">\(b.state.rawValue)</span></td>"
            o += "<td class=\"num\">\(b.consecutiveFailures)</td><td class=\"num\">\(b.totalFailures)</td><td class=\"num\">\(b.timesOpened)</td>"
            o += "<td class=\"mono\">\(e(b.lastError))</td></tr>"
        }
        o += "</table><p class=\"dim\">While the Redis breaker is open, policy <b>\(onRedisFailure.rawValue)</b> applies"
        o += onRedisFailure == .grant ? " (callers are told to go ahead without a fencing token: duplicate work is possible)." : " (callers get 503)."
        let ob = s.outbox
        o += " History outbox: <span class=\"\(ob.pending > 0 ? "warn" : "ok")\">\(ob.pending) pending</span> of \(s.outboxCapacity),"
        o += " \(ob.written) written, <span class=\"\(ob.dropped > 0 ? "bad" : "ok")\">\(ob.dropped) dropped</span>, \(ob.failures) failed writes"
        if let le = ob.lastError { o += ", last error <code>\(e(le))</code>" }
        return o + ".</p></section>"
    }

    private func leasesSection() -> String {
        var o = "<section id=\"leases\"><h2>Leases</h2>"
        guard let leases = s.leases else { return o + "<p class=\"bad\">\(e(s.leasesError))</p></section>" }
        if leases.isEmpty { return o + "<p class=\"dim\">No lease is known to Redis.</p></section>" }
        o += "<table><tr><th>lease</th><th>holder</th><th>time left</th><th>fencing token</th><th>held since</th><th>recent tenures (newest first)</th></tr>"
        for l in leases {
            let v = l.view
            o += "<tr data-lease=\"\(e(v.lease.value))\"><td><b>\(e(v.lease.value))</b></td>"
            if let h = v.holder {
                o += "<td class=\"holder\">\(e(h.value))</td><td class=\"num\">\(HTML.duration(ms: v.expiresInMs.map(Int64.init)))</td>"
                o += "<td class=\"num\">\(v.fencingToken.map { String($0.value) } ?? "–")</td>"
                o += "<td>\(HTML.time(v.acquiredAtMs))\(v.acquiredAtMs.map { " <span class=\"dim\">(\(HTML.duration(ms: s.nowMs - $0)))</span>" } ?? "")</td>"
            } else {
                o += "<td class=\"warn\">vacant</td><td>–</td><td>–</td><td>–</td>"
            }
            o += "<td>"
            o += l.tenures.map { t in
                let r = t.record
                let end = t.endedAtMs.map { "\(HTML.time($0)) \(t.endReason?.rawValue ?? "")" } ?? "open"
                return "<div><span class=\"mono\">#\(r.fencingToken.value)</span> \(e(r.holder.value)) <span class=\"dim\">\(HTML.time(r.acquiredAtMs)) → \(end)</span></div>"
            }.joined()
            o += l.tenures.isEmpty ? "<span class=\"dim\">none recorded</span>" : ""
            o += "</td></tr>"
        }
        return o + "</table></section>"
    }

    private func tasksSection() -> String {
        var o = "<section id=\"tasks\"><h2>Tasks</h2>"
        if let err = s.tasksError { o += "<p class=\"bad\">\(e(err))</p>" }
        if s.tasks.isEmpty { return o + "<p class=\"dim\">No task is known.</p></section>" }
        o += "<table><tr><th>task</th><th>current claim</th><th>last run</th></tr>"
        for t in s.tasks {
            o += "<tr data-task=\"\(e(t.task.value))\"><td><b>\(e(t.task.value))</b></td><td>"
            if let c = t.claim {
                o += "<span class=\"pill \(c.state == .running ? "running" : "succeeded")\">\(c.state.rawValue)</span> by <span class=\"holder\">\(e(c.holder.value))</span>"
                o += " <span class=\"dim\">since \(HTML.time(c.claimedAtMs)), \(HTML.duration(ms: Int64(c.expiresInMs))) left, token #\(c.fencingToken.value), run <code>\(e(c.runId))</code></span>"
            } else {
                o += "<span class=\"dim\">not claimed</span>"
            }
            o += "</td><td>"
            if let r = t.lastRun { o += runSummary(r) } else { o += "<span class=\"dim\">none recorded</span>" }
            o += "</td></tr>"
        }
        return o + "</table></section>"
    }

    private func runSummary(_ r: RunRecord) -> String {
        var o = "<span class=\"pill \(r.status.rawValue)\">\(r.status.rawValue)</span> on <span class=\"holder\">\(e(r.holder.value))</span>"
        if r.late { o += " <span class=\"pill late\">late</span>" }
        if r.mode == .degraded { o += " <span class=\"pill degraded\">degraded</span>" }
        o += " <span class=\"dim\">\(HTML.time(r.claimedAtMs)) → \(HTML.time(r.finishedAtMs))</span>"
        if let d = r.detail, !d.isEmpty { o += " <span class=\"mono\">\(e(String(d.prefix(200))))</span>" }
        return o
    }

    private func timelineSection() -> String {
        let layout = TimelineLayout(fromMs: s.nowMs - s.range.ms, toMs: s.nowMs)
        let rows = layout.rows(s.runs, nowMs: s.nowMs)
        let total = rows.reduce(0) { $0 + $1.bars.count }
        let overlaps = rows.reduce(0) { $0 + $1.overlapCount }
        let late = rows.reduce(0) { $0 + $1.bars.filter { $0.run.late }.count }
        var o = "<section id=\"timeline\"><h2>Runs in the last \(s.range.rawValue): \(total) runs"
        o += overlaps > 0 ? ", <span class=\"bad\">\(overlaps) overlapping</span>" : ", no overlaps"
        o += late > 0 ? ", <span class=\"warn\">\(late) late completion\(late == 1 ? "" : "s")</span>" : ""
        o += "</h2><p class=\"legend\"><span class=\"pill succeeded\">succeeded</span><span class=\"pill failed\">failed</span>"
        o += "<span class=\"pill cancelled\">cancelled</span><span class=\"pill running\">running</span>"
        o += "<span class=\"pill overlap\">overlap: outlined, stacked</span><span class=\"pill late\">late: dashed, ▼</span>"
        o += "<span class=\"pill degraded\">shaded: Redis breaker not closed</span> <span class=\"dim\">hover a bar for pod, times and run id</span></p>"
        if rows.isEmpty {
            o += "<p class=\"dim\">No task history to show.</p>"
        } else {
            o += TimelineSVG(layout: layout, rows: rows, degraded: s.degraded).render()
        }
        o += "<p class=\"dim\">Degraded periods come from this replica's Redis breaker transitions, kept in memory "
        o += "(last \(CircuitBreaker.transitionCapacity), \(s.redisTransitions) recorded since start): other replicas and earlier processes are not included;"
        o += " runs granted in degraded mode are drawn faded whichever replica granted them.</p>"
        if !s.truncated.isEmpty {
            o += "<p class=\"warn\">Only the newest \(IncidentSnapshot.runsPerTask) runs are drawn for: \(s.truncated.map { e($0.value) }.joined(separator: ", ")).</p>"
        }
        return o + "</section>"
    }

    private func runsSection() -> String {
        let all = s.runs.flatMap { $0.1 }.sorted { ($0.claimedAtMs ?? $0.finishedAtMs ?? 0) > ($1.claimedAtMs ?? $1.finishedAtMs ?? 0) }
        var o = "<section id=\"runs\"><h2>Runs, newest first</h2>"
        if all.isEmpty { return o + "<p class=\"dim\">None in this window.</p></section>" }
        o += "<table><tr><th>started</th><th>task</th><th>pod</th><th>status</th><th>duration</th><th>slot</th><th>run id</th><th>detail</th></tr>"
        for r in all.prefix(Self.runTableRows) {
            let dur = r.claimedAtMs.flatMap { c in r.finishedAtMs.map { $0 - c } }
            o += "<tr class=\"run-row\" data-run=\"\(e(r.runId))\"><td>\(HTML.time(r.claimedAtMs))</td><td>\(e(r.task.value))</td>"
            o += "<td class=\"holder\">\(e(r.holder.value))</td><td><span class=\"pill \(r.status.rawValue)\">\(r.status.rawValue)</span>"
            o += (r.late ? " <span class=\"pill late\">late</span>" : "") + (r.mode == .degraded ? " <span class=\"pill degraded\">degraded</span>" : "")
            o += "</td><td class=\"num\">\(HTML.duration(ms: dur))</td><td class=\"mono\">\(e(r.slot?.value))</td>"
            o += "<td class=\"mono\">\(e(r.runId))</td><td class=\"mono\">\(e(r.detail.map { String($0.prefix(120)) }))</td></tr>"
        }
        o += "</table>"
        if all.count > Self.runTableRows { o += "<p class=\"dim\">\(all.count - Self.runTableRows) older runs not listed (all are on the timeline).</p>" }
        return o + "</section>"
    }
}
