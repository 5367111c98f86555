import Foundation
import Testing
@testable import batonctl

@Suite struct RunsViewTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_700_000)

    static func run(_ id: String, _ task: String, _ pod: String, start: Double?, end: Double?) -> Schemas.Run {
        Schemas.Run(run_id: id, task: task, slot: nil, holder: pod, fencing_token: nil,
                    claimed_at: start.map { t0.addingTimeInterval($0) }, finished_at: end.map { t0.addingTimeInterval($0) },
                    status: end == nil ? .running : .succeeded, detail: nil, mode: .normal, late: false,
                    duration_ms: nil)
    }

    @Test func runsAcrossTasksNewestFirstWithOverlapsMarkedAndOldOnesLeftOut() {
        let histories: [(String, [Schemas.Run])] = [
            ("RefreshLibrary", [Self.run("b", "RefreshLibrary", "jellyfin-1", start: 500, end: 900),
                                Self.run("a", "RefreshLibrary", "jellyfin-0", start: 400, end: 800),
                                Self.run("old", "RefreshLibrary", "jellyfin-0", start: -5_000, end: -4_000)]),
            ("CleanLogs", [Self.run("c", "CleanLogs", "jellyfin-0", start: 600, end: nil),
                           Self.run("d", "CleanLogs", "jellyfin-1", start: 100, end: 200)]),
        ]
        let rows = RunsView.select(histories, since: Self.t0)
        #expect(rows.map(\.run.run_id) == ["c", "b", "a", "d"])
        #expect(rows.map(\.overlaps) == [false, true, true, false])
        let text = RunsView.render(rows)
        #expect(text.contains("RefreshLibrary  jellyfin-1  succeeded OVERLAP"))
        #expect(text.hasSuffix("4 runs, 2 overlapping another run of the same task"))
    }

    @Test func aWatchFrameOverwritesInPlaceAndClearsLeftovers() {
        let f = StatusWatch.frame("one\ntwo")
        #expect(f == "\u{1B}[Hone\u{1B}[K\ntwo\u{1B}[K\n\u{1B}[J")
        // Never a full-screen clear per frame (that is what flickers).
        #expect(!f.contains("\u{1B}[2J"))
    }
}
