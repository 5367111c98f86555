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
    /// system, no home), `$TMPDIR/batonctl-<uid>` (/tmp when TMPDIR is unset), created 0700.
    /// Whichever it is, it is used only if ``StateFolder/problem(_:)`` finds nothing wrong.
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

    /// Creates the folder if needed (0700); true when a file can be written in it.
    static func makeWritable(_ directory: String) -> Bool {
        StateFolder.create(directory)
        return access(directory, W_OK) == 0
    }

    /// Why the folder must not be used (someone else could write in it), or nil.
    var folderProblem: String? { StateFolder.problem(directory) }

    /// Consecutive failures recorded so far (0 when there is no file, it is unreadable, or
    /// the folder is not safe: a counter someone else planted is not believed).
    func failures() -> Int {
        guard folderProblem == nil, let text = StateFolder.readFile(path),
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
        StateFolder.create(directory)
        if let problem = folderProblem {
            Log.warn("not using the failure counters in \(directory): \(problem); set --state-dir or BATON_STATE_DIR to a folder only you can write")
        } else if !StateFolder.writeFile(text, to: path) {
            Log.warn("cannot write the failure counter \(path); set --state-dir or BATON_STATE_DIR to a writable folder")
        }
        return count
    }

    /// Baton answered: the streak is over.
    func recordSuccess() {
        // unlink(2) removes a symlink itself, never what it points to.
        if folderProblem == nil { unlink(path) }
    }
}
