import Foundation

/// The client-side circuit breaker: counts consecutive failures to reach Baton for one
/// lease or task, across invocations, in a small state file.
///
/// File `<dir>/<key>.failures` (key `lease-NAME` or `task-NAME`), three lines: the count,
/// the last error, the Unix time of the last failure. The shell hooks in docker/hooks read
/// and write the same files, so a pod that mixes them counts once.
struct ClientBreaker: Sendable {
    let directory: String
    let key: String
    let threshold: Int

    var path: String { directory + "/" + key + ".failures" }

    /// `--state-dir`, else BATON_STATE_DIR, else `$XDG_STATE_HOME/batonctl`, else
    /// `~/.local/state/batonctl`; when that default cannot be written (read-only root file
    /// system, no home), `$TMPDIR/batonctl-<uid>` (/tmp when TMPDIR is unset).
    static func directory(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                          isWritable: (String) -> Bool = ClientBreaker.makeWritable) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let dir = environment["BATON_STATE_DIR"], !dir.isEmpty { return dir }
        let preferred: String
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            preferred = xdg + "/batonctl"
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            preferred = home + "/.local/state/batonctl"
        }
        if isWritable(preferred) { return preferred }
        var tmp = environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        if tmp.hasSuffix("/") { tmp.removeLast() }
        return tmp + "/batonctl-\(getuid())"
    }

    /// Creates the folder if needed; true when a file can be written in it.
    static func makeWritable(_ directory: String) -> Bool {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return access(directory, W_OK) == 0
    }

    /// Consecutive failures recorded so far (0 when there is no file or it is unreadable).
    func failures() -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let first = text.split(separator: "\n", omittingEmptySubsequences: false).first,
              let count = Int(first.trimmingCharacters(in: .whitespaces)), count >= 0
        else { return 0 }
        return count
    }

    /// Records one more failure and returns the new count. When the file cannot be
    /// written, the count is this invocation's alone (and a warning says so).
    @discardableResult
    func recordFailure(_ error: String) -> Int {
        let count = failures() + 1
        let oneLine = error.replacingOccurrences(of: "\n", with: " ")
        let text = "\(count)\n\(oneLine)\n\(Int(Date().timeIntervalSince1970))\n"
        if !write(text) {
            Log.warn("cannot write the failure counter \(path); set --state-dir or BATON_STATE_DIR to a writable folder")
        }
        return count
    }

    /// Baton answered: the streak is over.
    func recordSuccess() {
        if FileManager.default.fileExists(atPath: path) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func write(_ text: String) -> Bool {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temp = path + ".\(getpid()).tmp"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temp))
            guard rename(temp, path) == 0 else {
                try? FileManager.default.removeItem(atPath: temp)
                return false
            }
            return true
        } catch {
            return false
        }
    }
}
