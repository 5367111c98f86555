import Foundation

/// `batonctl status --watch`: the status view redrawn in place, the terminal twin of
/// batond's /ui page.
enum StatusWatch {
    static let intervalRange: ClosedRange<Int64> = 1_000...300_000

    /// One redraw: cursor home, each line followed by clear-to-end-of-line, then clear to
    /// the end of the screen. Nothing is cleared before the new text is written, so the
    /// terminal never shows an empty screen between two frames (no flicker), and lines
    /// that got shorter or vanished leave nothing behind.
    static func frame(_ text: String) -> String {
        let home = "\u{1B}[H", clearLine = "\u{1B}[K", clearBelow = "\u{1B}[J"
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return home + lines.map { $0 + clearLine }.joined(separator: "\n") + "\n" + clearBelow
    }

    /// Redraws every `intervalMs` until interrupted (SIGINT ends the process).
    static func run(client: BatonClient, intervalMs: Int64) async throws {
        // Start from a clean screen once; every later frame overwrites in place.
        FileHandle.standardOutput.write(Data("\u{1B}[2J".utf8))
        while true {
            async let statusResult = capture { try await client.status() }
            async let leasesResult = capture { try await client.leases() }
            async let tasksResult = capture { try await client.tasks() }
            let (status, leases, tasks) = await (statusResult, leasesResult, tasksResult)
            var errors: [String: String] = [:]
            if let e = status.error { errors["status"] = e.description }
            if let e = leases.error { errors["leases"] = e.description }
            if let e = tasks.error { errors["tasks"] = e.description }
            let now = Date()
            let header = "every \(CLIDuration(milliseconds: intervalMs)) · \(Format.shortTime(now)) · Ctrl-C to stop\n"
            let body = StatusView.render(url: client.baseURL, status: status.value, leases: leases.value?.leases,
                                         tasks: tasks.value, errors: errors, now: now)
            FileHandle.standardOutput.write(Data(frame(header + body).utf8))
            try await Task.sleep(for: .milliseconds(intervalMs))
        }
    }
}
