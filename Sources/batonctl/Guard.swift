import BatonSupport
// CoreFoundation: under MemberImportVisibility the clang importer credits struct stat and
// timespec to whichever module first included their headers, here CoreFoundation.
import CoreFoundation
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `batonctl __guard --parent-pid P --grace-ms G -- CMD...`: the process between batonctl
/// and the command (see ChildProcess). It runs before any Swift concurrency starts, single
/// threaded, so blocking signals and `sigtimedwait` see every signal sent to it.
enum GuardCommand {
    static let name = "__guard"

    static func isInvocation(_ arguments: [String]) -> Bool {
        arguments.count > 1 && arguments[1] == name
    }

    static func main(_ arguments: [String]) -> Never {
        var parent: pid_t = 0
        var graceMs: Int64 = 5000
        var command: [String] = []
        var i = 2
        while i < arguments.count {
            let arg = arguments[i]
            if arg == "--" {
                command = Array(arguments[(i + 1)...])
                break
            }
            if arg == "--parent-pid", i + 1 < arguments.count {
                parent = pid_t(arguments[i + 1]) ?? 0
                i += 2
            } else if arg == "--grace-ms", i + 1 < arguments.count {
                graceMs = Int64(arguments[i + 1]) ?? 5000
                i += 2
            } else {
                i += 1
            }
        }
        guard !command.isEmpty else {
            say("batonctl: __guard: no command")
            exit(Exit.usage)
        }
        run(command: command, parent: parent, graceMs: graceMs)
    }

    static func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func run(command: [String], parent: pid_t, graceMs: Int64) -> Never {
        let stopSignals = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
        var waitSet = sigset_t()
        sigemptyset(&waitSet)
        for s in stopSignals + [SIGCHLD] { sigaddset(&waitSet, s) }
        sigprocmask(SIG_BLOCK, &waitSet, nil)

        // Descriptors batonctl had open (sockets to Baton, state files) are not the
        // command's business.
        if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            for fd in open.compactMap({ Int32($0) }) where fd > 2 { close(fd) }
        } else {
            let maxFd = min(Int32(sysconf(Int32(_SC_OPEN_MAX))), 4096)
            if maxFd > 3 { for fd in 3..<maxFd { close(fd) } }
        }

        // The parent may have died between spawning us and now.
        if parent != 0 && getppid() != parent {
            exit(Exit.lost)
        }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        posix_spawnattr_setflags(&attr, Int16(Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in stopSignals + [SIGCHLD, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)

        var child: pid_t = 0
        let rc = withCStrings(command) { argv in
            posix_spawnp(&child, command[0], nil, &attr, argv, environ)
        }
        posix_spawnattr_destroy(&attr)
        if rc != 0 {
            say("batonctl: cannot run \(command[0]): \(String(cString: strerror(rc)))")
            exit(rc == ENOENT ? 127 : 126)
        }

        let group = getpgrp()
        var terminatingSince: Int64?
        var orphaned = false
        var killedAt: Int64?
        while true {
            var status: Int32 = 0
            let reaped = waitpid(child, &status, WNOHANG)
            if reaped == child {
                if orphaned {
                    // Nobody waits for our status: take whatever CMD left behind with us.
                    _ = kill(-group, SIGKILL)
                }
                exit(ChildProcess.exitCode(fromWaitStatus: status))
            }
            if reaped < 0 && errno == ECHILD {
                exit(Exit.error)
            }

            var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            let sig = sigtimedwait(&waitSet, nil, &timeout)
            if sig > 0 && stopSignals.contains(sig) && terminatingSince == nil {
                terminatingSince = MonotonicClock.milliseconds()
                _ = kill(-group, sig)
            }
            if !orphaned && parent != 0 && getppid() != parent {
                orphaned = true
                say("batonctl: batonctl (pid \(parent)) is gone: stopping \(command[0])")
                if terminatingSince == nil {
                    terminatingSince = MonotonicClock.milliseconds()
                    _ = kill(-group, SIGTERM)
                }
            }
            if let since = terminatingSince, killedAt == nil, MonotonicClock.milliseconds() - since >= graceMs {
                // Grace is over. SIGKILL the command first and report its status;
                // batonctl (or, when orphaned, the exit path above) kills the rest.
                _ = kill(child, SIGKILL)
                if orphaned { _ = kill(-group, SIGKILL) }
                killedAt = since
            }
        }
    }
}
