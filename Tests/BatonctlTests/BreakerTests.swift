import Foundation
import Testing
@testable import batonctl

@Suite struct ClientBreakerTests {
    func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "batonctl-tests-\(UUID().uuidString)"
        return dir
    }

    @Test func countsAcrossInstancesAndResets() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let breaker = ClientBreaker(directory: dir, key: "lease-nightly", threshold: 3)
        #expect(breaker.failures() == 0)
        #expect(breaker.recordFailure("connection refused") == 1)
        // A new invocation reads the same file.
        let again = ClientBreaker(directory: dir, key: "lease-nightly", threshold: 3)
        #expect(again.recordFailure("timed out\nsecond line") == 2)
        let text = try String(contentsOfFile: dir + "/lease-nightly.failures", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "2")
        #expect(lines[1] == "timed out second line")
        #expect(Int(lines[2]) != nil)
        // Another key is counted on its own.
        #expect(ClientBreaker(directory: dir, key: "task-nightly", threshold: 3).failures() == 0)
        again.recordSuccess()
        #expect(breaker.failures() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/lease-nightly.failures"))
    }

    @Test func readsWhatTheShellHookWrites() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "4\nFailed to connect\n1795740000\n".write(toFile: dir + "/task-t.failures", atomically: true, encoding: .utf8)
        #expect(ClientBreaker(directory: dir, key: "task-t", threshold: 3).failures() == 4)
        try "garbage\n".write(toFile: dir + "/task-u.failures", atomically: true, encoding: .utf8)
        #expect(ClientBreaker(directory: dir, key: "task-u", threshold: 3).failures() == 0)
    }

    @Test func directoryChoice() {
        let yes: (String) -> Bool = { _ in true }
        #expect(ClientBreaker.directory(explicit: "/x", environment: ["BATON_STATE_DIR": "/y"], isWritable: yes) == "/x")
        #expect(ClientBreaker.directory(explicit: nil, environment: ["BATON_STATE_DIR": "/y", "XDG_STATE_HOME": "/s"], isWritable: yes) == "/y")
        #expect(ClientBreaker.directory(explicit: nil, environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"], isWritable: yes) == "/s/batonctl")
        #expect(ClientBreaker.directory(explicit: nil, environment: ["XDG_STATE_HOME": "relative", "HOME": "/h"], isWritable: yes) == "/h/.local/state/batonctl")
        #expect(ClientBreaker.directory(explicit: nil, environment: ["HOME": "/h"], isWritable: yes) == "/h/.local/state/batonctl")
        // A read-only home: a folder of our own under TMPDIR.
        let no: (String) -> Bool = { _ in false }
        #expect(ClientBreaker.directory(explicit: nil, environment: ["HOME": "/h", "TMPDIR": "/t/"], isWritable: no) == "/t/batonctl-\(getuid())")
        #expect(ClientBreaker.directory(explicit: nil, environment: ["HOME": "/h"], isWritable: no) == "/tmp/batonctl-\(getuid())")
        // An explicit folder is used as it is.
        #expect(ClientBreaker.directory(explicit: nil, environment: ["BATON_STATE_DIR": "/ro"], isWritable: no) == "/ro")
    }

    @Test func policyDecisions() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var run = try RunPolicyOptions.parse(["--state-dir", dir])
        try run.validate()
        let breaker = run.breaker(key: "lease-p")
        #expect(run.decide(after: "refused", breaker: breaker, url: "u", what: "lease p", waiting: false) == .giveUp)
        #expect(run.decide(after: "refused", breaker: breaker, url: "u", what: "lease p", waiting: true) == .retry)
        #expect(run.decide(after: "refused", breaker: breaker, url: "u", what: "lease p", waiting: false) == .runLocally)
        #expect(run.decide(after: "refused", breaker: breaker, url: "u", what: "lease p", waiting: true) == .runLocally)

        let skip = try RunPolicyOptions.parse(["--state-dir", dir, "--on-unavailable", "skip", "--breaker-threshold", "1"])
        let other = skip.breaker(key: "task-q")
        #expect(skip.decide(after: "refused", breaker: other, url: "u", what: "task q", waiting: false) == .giveUp)
        #expect(skip.decide(after: "refused", breaker: other, url: "u", what: "task q", waiting: true) == .giveUp)
        #expect(other.failures() == 2)
    }

    // MARK: - Issue 15, item 5: a state folder on a shared /tmp

    @Test func theFallbackFolderIsCreatedPrivate() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(ClientBreaker.makeWritable(dir))
        var st = stat()
        #expect(lstat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(ClientBreaker(directory: dir, key: "lease-x", threshold: 3).recordFailure("refused") == 1)
        #expect(lstat(dir + "/lease-x.failures", &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    @Test func aFolderOthersCanWriteIsRefusedAndItsCounterIgnored() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "99\nplanted\n1795740000\n".write(toFile: dir + "/lease-x.failures", atomically: false, encoding: .utf8)
        chmod(dir, 0o777)
        let breaker = ClientBreaker(directory: dir, key: "lease-x", threshold: 3)
        #expect(breaker.folderProblem != nil)
        #expect(breaker.failures() == 0, "a planted counter was believed")
        #expect(breaker.recordFailure("refused") == 1)
        #expect(try String(contentsOfFile: dir + "/lease-x.failures", encoding: .utf8).hasPrefix("99\n"), "wrote into an unsafe folder")
        chmod(dir, 0o720)
        #expect(ClientBreaker(directory: dir, key: "lease-x", threshold: 3).failures() == 0)
        chmod(dir, 0o700)
        #expect(ClientBreaker(directory: dir, key: "lease-x", threshold: 3).failures() == 99)
        // Not ours (the tests run as root in CI: give it to nobody).
        if geteuid() == 0 {
            chown(dir, 65534, 65534)
            #expect(ClientBreaker(directory: dir, key: "lease-x", threshold: 3).failures() == 0)
            #expect(ClientBreaker(directory: dir, key: "lease-x", threshold: 3).folderProblem?.contains("belongs to uid 65534") == true)
        }
    }

    @Test func aFolderThatIsASymlinkIsRefused() throws {
        let real = tempDir(), link = tempDir()
        defer { try? FileManager.default.removeItem(atPath: real); unlink(link) }
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        chmod(real, 0o700)
        #expect(symlink(real, link) == 0)
        #expect(ClientBreaker(directory: link, key: "lease-x", threshold: 3).folderProblem?.contains("symbolic link") == true)
    }

    @Test func symlinksInTheFolderAreNotFollowed() throws {
        let dir = tempDir(), victimDir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: victimDir) }
        #expect(ClientBreaker.makeWritable(dir))
        try FileManager.default.createDirectory(atPath: victimDir, withIntermediateDirectories: true)
        let victim = victimDir + "/secret"
        try "keep me\n".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o600)
        // A counter that is a symlink to the victim (or to a counter of 99): not read,
        // replaced by a file of our own, and the victim is untouched.
        #expect(symlink(victim, dir + "/lease-x.failures") == 0)
        // ...and at the temporary name an earlier batonctl used (path.PID.tmp).
        #expect(symlink(victim, dir + "/lease-x.failures.\(getpid()).tmp") == 0)
        let breaker = ClientBreaker(directory: dir, key: "lease-x", threshold: 3)
        #expect(breaker.failures() == 0)
        #expect(breaker.recordFailure("refused") == 1)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me\n")
        var st = stat()
        #expect(lstat(dir + "/lease-x.failures", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
        #expect(breaker.failures() == 1)
        // A success removes the link, not its target.
        #expect(symlink(victim, dir + "/lease-y.failures") == 0)
        ClientBreaker(directory: dir, key: "lease-y", threshold: 3).recordSuccess()
        #expect(FileManager.default.fileExists(atPath: victim))
        #expect(lstat(dir + "/lease-y.failures", &st) != 0)
        // No temporary files of ours are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") } == ["lease-x.failures.\(getpid()).tmp"])
    }
}
