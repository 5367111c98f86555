import ArgumentParser
import Foundation
import Testing
@testable import batonctl

@Suite struct DurationParsingTests {
    @Test(arguments: [
        ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1500ms", 1500), ("1m30s", 90_000),
        ("1.5s", 1500), ("0s", 0), ("2d", 172_800_000), ("10S", 10_000), (" 3s ", 3000),
    ] as [(String, Int64)])
    func parses(text: String, ms: Int64) {
        #expect(CLIDuration(argument: text)?.milliseconds == ms)
    }

    @Test(arguments: ["", "30", "s", "-1s", "5x", "1s2", "ms", "1.2.3s", "1e3s"])
    func rejects(text: String) {
        #expect(CLIDuration(argument: text) == nil)
    }

    @Test func describesItself() {
        #expect(CLIDuration(milliseconds: 30_000).description == "30s")
        #expect(CLIDuration(milliseconds: 300_000).description == "5m")
        #expect(CLIDuration(milliseconds: 7_200_000).description == "2h")
        #expect(CLIDuration(milliseconds: 1500).description == "1500ms")
    }
}

@Suite struct NameTests {
    @Test func leaseAndTaskNames() {
        #expect(Names.isName("jellyfin-scheduler"))
        #expect(Names.isName("a.b_c:d-1"))
        #expect(Names.isName(String(repeating: "a", count: 128)))
        #expect(!Names.isName(String(repeating: "a", count: 129)))
        #expect(!Names.isName(""))
        #expect(!Names.isName("-leading"))
        #expect(!Names.isName("has space"))
        #expect(!Names.isName("slash/not-allowed"))
        #expect(!Names.isName("ümlaut"))
    }

    @Test func holders() {
        #expect(Names.isHolder("jellyfin-0"))
        #expect(Names.isHolder("pod@node/1"))
        #expect(!Names.isHolder("/leading-slash"))
        #expect(!Names.isHolder("a b"))
        #expect(!Names.isHolder(String(repeating: "h", count: 254)))
    }
}

@Suite struct TimingTests {
    @Test func defaultsForThirtySeconds() {
        let t = Timing(periodMs: 30_000)
        #expect(t.graceMs == 5000)
        #expect(t.safetyMs == 1000)
        #expect(t.marginMs == 6000)
        #expect(t.renewEveryMs == 10_000)
        #expect(t.retryEveryMs == 1000)
        #expect(t.requestTimeoutMs(limit: 10_000) == 10_000)
        #expect(t.requestTimeoutMs(limit: 3000) == 3000)
    }

    @Test func shortTTLKeepsTheOrder() {
        let t = Timing(periodMs: 3000)
        #expect(t.graceMs == 500)
        #expect(t.safetyMs == 300)
        #expect(t.renewEveryMs == 1000)
        #expect(t.retryEveryMs == 300)
        // SIGTERM at ttl - margin, SIGKILL a grace later: still before the expiry.
        #expect(t.periodMs - t.marginMs + t.graceMs < t.periodMs)
        // At least one retry fits between a renewal and the deadline.
        #expect(t.renewEveryMs + t.retryEveryMs < t.periodMs - t.marginMs)
    }

    @Test func explicitGrace() {
        let t = Timing(periodMs: 60_000, graceMs: 10_000)
        #expect(t.graceMs == 10_000)
        #expect(t.marginMs == 11_000)
    }

    @Test func durationMilliseconds() {
        #expect(Duration.milliseconds(1234).milliseconds == 1234)
        #expect(Duration.seconds(3).milliseconds == 3000)
    }
}

@Suite struct ParsingTests {
    @Test func lockTakesTheCommandAfterTheTerminator() throws {
        let command = try Batonctl.parseAsRoot(["lock", "--lease", "nightly", "--holder", "pod-a", "--", "echo", "--not-an-option"])
        let lock = try #require(command as? LockCommand)
        #expect(lock.lease == "nightly")
        #expect(lock.ttl.milliseconds == 30_000)
        #expect(lock.command == ["echo", "--not-an-option"])
        #expect(lock.policy.onUnavailable == .run)
        #expect(lock.policy.breakerThreshold == 3)
        #expect(lock.policy.skippedExit == 75)
        #expect(!lock.wait)
    }

    @Test func lockNeedsACommandAndAGoodName() {
        #expect(throws: (any Error).self) { try Batonctl.parseAsRoot(["lock", "--lease", "x", "--holder", "h"]) }
        #expect(throws: (any Error).self) { try Batonctl.parseAsRoot(["lock", "--lease", "bad name", "--holder", "h", "--", "true"]) }
        #expect(throws: (any Error).self) { try Batonctl.parseAsRoot(["lock", "--lease", "x", "--holder", "h", "--ttl", "500ms", "--", "true"]) }
        #expect(throws: (any Error).self) { try Batonctl.parseAsRoot(["lock", "--lease", "x", "--holder", "h", "--ttl", "3s", "--grace", "3s", "--", "true"]) }
    }

    @Test func claimOptions() throws {
        let command = try Batonctl.parseAsRoot([
            "claim", "--task", "RefreshLibrary", "--slot", "2026-11-27T01:00Z", "--at-most", "2h", "--at-least", "30s",
            "--skipped-exit", "0", "--on-unavailable", "skip", "--holder", "pod-a", "--", "./scan.sh",
        ])
        let claim = try #require(command as? ClaimCommand)
        #expect(claim.claim.task == "RefreshLibrary")
        #expect(claim.claim.slot == "2026-11-27T01:00Z")
        #expect(claim.claim.atMost.milliseconds == 7_200_000)
        #expect(claim.claim.atLeast.milliseconds == 30_000)
        #expect(claim.policy.skippedExit == 0)
        #expect(claim.policy.onUnavailable == .skip)
        #expect(claim.command == ["./scan.sh"])
    }

    @Test func claimRejectsAtLeastAboveAtMost() {
        #expect(throws: (any Error).self) {
            try Batonctl.parseAsRoot(["claim", "--task", "t", "--holder", "h", "--at-most", "1m", "--at-least", "2m", "--", "true"])
        }
    }

    @Test func jellyfinRunTask() throws {
        let keyFile = NSTemporaryDirectory() + "batonctl-test-key-\(getpid())"
        try "k3y\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let command = try Batonctl.parseAsRoot([
            "jellyfin", "run-task", "--task", "RefreshLibrary", "--jellyfin-url", "http://127.0.0.1:8096",
            "--jellyfin-api-key-file", keyFile, "--slot", "s", "--holder", "pod-a",
        ])
        let run = try #require(command as? JellyfinCommand.RunTask)
        #expect(run.claim.task == "RefreshLibrary")
        #expect(run.jellyfin.url == "http://127.0.0.1:8096")
        #expect(try run.jellyfin.apiKey() == "k3y")
        #expect(run.pollInterval.milliseconds == 2000)
    }

    /// A key on the command line is readable by any process in /proc/PID/cmdline.
    @Test func aJellyfinKeyOnTheCommandLineIsRefused() {
        for args in [["run-task", "--task", "RefreshLibrary"], ["schedule"], ["restore"], ["status"]] {
            do {
                _ = try Batonctl.parseAsRoot(["jellyfin"] + args + ["--holder", "pod-a", "--jellyfin-api-key", "k"])
                Issue.record("jellyfin \(args[0]) accepted --jellyfin-api-key")
            } catch {
                let message = Batonctl.message(for: error)
                #expect(message.contains("--jellyfin-api-key is not accepted") && message.contains("JELLYFIN_API_KEY"), "\(message)")
            }
        }
        #expect(throws: (any Error).self) {
            try Batonctl.parseAsRoot(["jellyfin", "schedule", "--holder", "pod-a", "--jellyfin-api-key-file", "/nonexistent/key"])
        }
    }

    @Test func scheduleOptions() throws {
        let keyFile = NSTemporaryDirectory() + "batonctl-test-key2-\(getpid())"
        try "k".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let command = try Batonctl.parseAsRoot([
            "jellyfin", "schedule", "--holder", "pod-a", "--jellyfin-api-key-file", keyFile, "--per-pod", "RefreshGuide",
            "--skip", "PluginUpdates", "--time-zone", "Europe/Berlin",
        ])
        let s = try #require(command as? JellyfinScheduleCommand)
        #expect(s.jellyfin.url == "http://127.0.0.1:8096")
        #expect(s.schedule.perPod == ["RefreshGuide"] && s.schedule.skip == ["PluginUpdates"])
        #expect(try s.schedule.zone().identifier == "Europe/Berlin")
        #expect(s.schedule.firstRunDelay.milliseconds == 3_600_000)
        #expect(throws: (any Error).self) {
            try Batonctl.parseAsRoot(["jellyfin", "schedule", "--holder", "pod-a", "--jellyfin-api-key-file", keyFile, "--time-zone", "Mars/Olympus"])
        }
    }

    @Test func healthTakesAURL() throws {
        let command = try Batonctl.parseAsRoot(["health", "--url", "http://127.0.0.1:9"])
        let health = try #require(command as? HealthCommand)
        #expect(health.global.resolvedURL == "http://127.0.0.1:9")
    }

    @Test func globalURLDropsATrailingSlash() throws {
        let command = try Batonctl.parseAsRoot(["status", "--url", "http://baton:8080/"])
        let status = try #require(command as? StatusCommand)
        #expect(status.global.resolvedURL == "http://baton:8080")
    }

    @Test func helpDocumentsTheExitCodes() {
        let help = Batonctl.helpMessage()
        for code in ["75", "76", "69", "--skipped-exit"] {
            #expect(help.contains(code))
        }
        #expect(Batonctl.helpMessage(for: LockCommand.self).contains("BATON_FENCING_TOKEN"))
        #expect(Batonctl.helpMessage(for: ClaimCommand.self).contains("76"))
    }
}

@Suite struct ExitStatusTests {
    @Test func waitStatuses() {
        #expect(ChildProcess.exitCode(fromWaitStatus: 0) == 0)
        #expect(ChildProcess.exitCode(fromWaitStatus: 3 << 8) == 3)
        #expect(ChildProcess.exitCode(fromWaitStatus: 255 << 8) == 255)
        #expect(ChildProcess.exitCode(fromWaitStatus: 9) == 137)
        #expect(ChildProcess.exitCode(fromWaitStatus: 15) == 143)
    }

    @Test func describesSignals() {
        #expect(describeExit(0) == "exit code 0")
        #expect(describeExit(143) == "exit code 143 (signal 15)")
    }
}

/// Issue 15, item 6: `batonctl lock -- cmd` handed BATON_TOKEN to the command.
@Suite struct TokenHandlingTests {
    @Test func theCommandGetsNoTokenUnlessAskedFor() throws {
        let base = ["BATON_TOKEN": "secret-token-0123456789", "BATON_TOKEN_FILE": "/run/secrets/baton", "PATH": "/bin", "BATON_URL": "http://b"]
        let env = ChildEnvironment.make(["BATON_LEASE": "l"], base: base)
        #expect(env["BATON_TOKEN"] == nil && env["BATON_TOKEN_FILE"] == nil)
        #expect(env["PATH"] == "/bin" && env["BATON_URL"] == "http://b" && env["BATON_LEASE"] == "l")
        #expect(ChildEnvironment.make([:], token: "t0123456789abcdef", base: base)["BATON_TOKEN"] == "t0123456789abcdef")

        let lock = try LockCommand.parse(["--lease", "l", "--", "true"])
        #expect(lock.policy.passToken == false && lock.policy.tokenForChild(lock.global) == nil)
        let passing = try LockCommand.parse(["--lease", "l", "--pass-token", "--token", "t0123456789abcdef", "--", "true"])
        #expect(passing.policy.tokenForChild(passing.global) == "t0123456789abcdef")
        let claim = try ClaimCommand.parse(["--task", "t", "--pass-token", "--", "true"])
        #expect(claim.policy.passToken)
    }

    @Test func theTokenCanComeFromAFile() throws {
        let path = NSTemporaryDirectory() + "batonctl-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "  file-token-0123456789  \nsecond line\n".write(toFile: path, atomically: true, encoding: .utf8)
        var g = try GlobalOptions.parse(["--token-file", path])
        try g.validate()
        #expect(g.resolvedToken == "file-token-0123456789")
        // --token wins over the file; a file that cannot be read stops batonctl.
        #expect(try GlobalOptions.parse(["--token-file", path, "--token", "flag-token-0123456789"]).resolvedToken == "flag-token-0123456789")
        #expect(throws: (any Error).self) { try GlobalOptions.parse(["--token-file", path + ".missing"]) }
        #expect(GlobalOptions.readToken(path + ".missing") == nil)
    }
}
