import BatonCore

/// Where each run goes on the timeline: one row per task, split into lanes so that runs
/// of the same task that overlap in time sit one above the other instead of hiding each
/// other, which is exactly what an operator looking for "did it run twice" must see.
struct TimelineLayout {
    /// The shown window, wall-clock milliseconds.
    let fromMs: Int64
    let toMs: Int64

    struct Bar {
        let run: RunRecord
        let startMs: Int64
        /// The finish, or now for a run still going.
        let endMs: Int64
        let lane: Int
        /// Another run of the same task was going at the same time.
        var overlaps: Bool
    }

    struct Row {
        let task: TaskName
        let bars: [Bar]
        let lanes: Int
        var overlapCount: Int { bars.filter(\.overlaps).count }
    }

    /// Most lanes drawn per task; further overlapping runs share the last lane (still marked).
    static let maxLanes = 4

    func rows(_ runsByTask: [(TaskName, [RunRecord])], nowMs: Int64) -> [Row] {
        runsByTask.map { task, runs in row(task, runs, nowMs: nowMs) }
    }

    func row(_ task: TaskName, _ runs: [RunRecord], nowMs: Int64) -> Row {
        // A late completion whose claim the store had forgotten has no start: draw it as a
        // point at its finish.
        var spans: [(RunRecord, Int64, Int64)] = runs.compactMap { r in
            guard let start = r.claimedAtMs ?? r.finishedAtMs else { return nil }
            let end = max(start, r.finishedAtMs ?? nowMs)
            guard end >= fromMs, start <= toMs else { return nil }
            return (r, start, end)
        }
        spans.sort { ($0.1, $0.2, $0.0.runId) < ($1.1, $1.2, $1.0.runId) }
        var laneEnds: [Int64] = []
        var bars: [Bar] = []
        var latestEnd = Int64.min
        var latestIndex = -1
        for (r, start, end) in spans {
            var overlaps = false
            if start < latestEnd {
                overlaps = true
                bars[latestIndex].overlaps = true
            }
            var lane = laneEnds.firstIndex { $0 <= start } ?? laneEnds.count
            if lane >= Self.maxLanes { lane = Self.maxLanes - 1 }
            if lane < laneEnds.count { laneEnds[lane] = max(laneEnds[lane], end) } else { laneEnds.append(end) }
            bars.append(Bar(run: r, startMs: start, endMs: end, lane: lane, overlaps: overlaps))
            if end > latestEnd {
                latestEnd = end
                latestIndex = bars.count - 1
            }
        }
        // Every run an overlapping run started inside is marked, not only the longest one.
        for i in bars.indices where bars[i].overlaps {
            for j in bars.indices where j != i && bars[j].startMs < bars[i].endMs && bars[i].startMs < bars[j].endMs {
                bars[j].overlaps = true
            }
        }
        return Row(task: task, bars: bars, lanes: max(1, laneEnds.count))
    }
}

/// Intervals during which this process's Redis breaker was not closed (degraded mode:
/// grants come from the fallback policy), clipped to the window.
func degradedPeriods(_ transitions: [CircuitBreaker.Transition], current: CircuitBreaker.State,
                     fromMs: Int64, toMs: Int64) -> [(Int64, Int64)] {
    var periods: [(Int64, Int64)] = []
    var openedAt: Int64?
    for t in transitions {
        if t.state == .closed {
            if let o = openedAt { periods.append((o, t.atMs)) }
            openedAt = nil
        } else if openedAt == nil {
            openedAt = t.atMs
        }
    }
    if let o = openedAt, current != .closed { periods.append((o, toMs)) }
    // A period shorter than a millisecond (a breaker that opened just now) is still shown.
    return periods.compactMap { s, e in
        guard e >= fromMs, s <= toMs else { return nil }
        return (max(s, fromMs), min(e, toMs))
    }
}

/// The timeline as inline SVG: presentation attributes and classes from the page's one
/// stylesheet only (no `style=` attribute, which the CSP would refuse), `<title>` for the
/// hover text (no script).
struct TimelineSVG {
    let layout: TimelineLayout
    let rows: [TimelineLayout.Row]
    let degraded: [(Int64, Int64)]

    static let width = 1200
    static let labelWidth = 190
    static let laneHeight = 18
    static let rowGap = 6
    static let axisHeight = 22

    private var plotWidth: Int { Self.width - Self.labelWidth - 10 }

    private func x(_ ms: Int64) -> Double {
        let span = Double(max(1, layout.toMs - layout.fromMs))
        let clipped = min(max(ms, layout.fromMs), layout.toMs)
        return Double(Self.labelWidth) + Double(clipped - layout.fromMs) / span * Double(plotWidth)
    }

    private static func f(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    func render() -> String {
        var rowTops: [Int] = []
        var y = Self.axisHeight
        for row in rows {
            rowTops.append(y)
            y += row.lanes * Self.laneHeight + Self.rowGap
        }
        let height = max(y, Self.axisHeight + Self.laneHeight) + 4
        var o = "<svg class=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.width) \(height)\" role=\"img\" aria-label=\"Task runs timeline\">"
        for (s, e) in degraded {
            o += "<rect class=\"deg\" data-degraded=\"1\" x=\"\(Self.f(x(s)))\" y=\"0\" width=\"\(Self.f(max(1, x(e) - x(s))))\" height=\"\(height)\">"
            o += "<title>degraded: Redis breaker not closed \(HTML.time(s)) – \(HTML.time(e))</title></rect>"
        }
        o += axis(height: height)
        for (row, top) in zip(rows, rowTops) {
            let h = row.lanes * Self.laneHeight
            o += "<rect class=\"row\" x=\"\(Self.labelWidth)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(h)\" fill-opacity=\"0.6\"/>"
            var label = HTML.escape(String(row.task.value.prefix(26)))
            if row.overlapCount > 0 { label += " ⚠" }
            o += "<text x=\"4\" y=\"\(top + 13)\"><title>\(HTML.escape(row.task.value)): \(row.bars.count) runs, \(row.overlapCount) overlapping</title>\(label)</text>"
            for bar in row.bars { o += self.bar(bar, top: top) }
        }
        o += "</svg>"
        return o
    }

    private func axis(height: Int) -> String {
        let span = layout.toMs - layout.fromMs
        let step: Int64 = span <= 3_600_000 ? 600_000 : span <= 86_400_000 ? 10_800_000 : 86_400_000
        var o = ""
        var t = (layout.fromMs / step + 1) * step
        while t < layout.toMs {
            let px = Self.f(x(t))
            let s = HTML.time(t)
            let text = step >= 86_400_000 ? String(s.prefix(10)) : String(s.dropFirst(11).prefix(5))
            o += "<line class=\"grid\" x1=\"\(px)\" y1=\"\(Self.axisHeight - 4)\" x2=\"\(px)\" y2=\"\(height)\"/>"
            // No tick label under the "now" label at the right end.
            if x(t) < Double(Self.width - 60) {
                o += "<text class=\"axis\" x=\"\(px)\" y=\"12\" text-anchor=\"middle\">\(text)</text>"
            }
            t += step
        }
        o += "<text class=\"axis\" x=\"\(Self.width - 12)\" y=\"12\" text-anchor=\"end\">now</text>"
        return o
    }

    private static let colour: [RunStatus: String] = [
        .succeeded: "#2e7d32", .failed: "#c62828", .cancelled: "#8a8f94", .running: "#1565c0",
    ]

    private func bar(_ b: TimelineLayout.Bar, top: Int) -> String {
        let r = b.run
        let x0 = x(b.startMs), w = max(3, x(b.endMs) - x0)
        let y = top + b.lane * Self.laneHeight + 2, h = Self.laneHeight - 4
        var cls = "bar"
        if b.overlaps { cls += " ov" }
        if r.late { cls += " lt" }
        var flags: [String] = []
        if b.overlaps { flags.append("OVERLAPS another run") }
        if r.late { flags.append("LATE completion (claim had expired)") }
        if r.mode == .degraded { flags.append("degraded mode (no fencing)") }
        let title = "\(r.task.value) on \(r.holder.value): \(r.status.rawValue), \(HTML.time(r.claimedAtMs)) → "
            + (r.finishedAtMs.map { HTML.time($0) } ?? "still running")
            + ", \(HTML.duration(ms: b.endMs - b.startMs)), run \(r.runId)"
            + (r.slot.map { ", slot \($0.value)" } ?? "") + (flags.isEmpty ? "" : " — " + flags.joined(separator: "; "))
        var o = "<g class=\"run\" data-task=\"\(HTML.escape(r.task.value))\" data-pod=\"\(HTML.escape(r.holder.value))\" data-status=\"\(r.status.rawValue)\""
        o += (b.overlaps ? " data-overlap=\"1\"" : "") + (r.late ? " data-late=\"1\"" : "") + ">"
        o += "<title>\(HTML.escape(title))</title>"
        o += "<rect class=\"\(cls)\" x=\"\(Self.f(x0))\" y=\"\(y)\" width=\"\(Self.f(w))\" height=\"\(h)\" rx=\"2\" fill=\"\(Self.colour[r.status] ?? "#555")\""
        o += r.mode == .degraded ? " fill-opacity=\"0.55\"/>" : "/>"
        if r.late {
            // A small triangle at the finish: visible even on a 3-pixel bar.
            let ex = x0 + w
            o += "<path class=\"mk\" d=\"M\(Self.f(ex)) \(y - 2) l5 -4 l-10 0 z\"/>"
        }
        // The pod's name inside the bar when it fits (about 6 px per character at 10 px).
        let name = r.holder.value
        if w >= Double(min(name.count, 24) * 6 + 6) {
            o += "<text class=\"lbl\" x=\"\(Self.f(x0 + 3))\" y=\"\(y + h - 4)\">\(HTML.escape(String(name.prefix(24))))</text>"
        }
        o += "</g>"
        return o
    }
}
