import BatonSupport
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The command batonctl runs, behind a small guard process.
///
///     batonctl ──spawns──▶ batonctl __guard (new process group G) ──spawns──▶ CMD (group G)
///
/// batonctl signals the guard; the guard relays the signal to the whole group G and sends
/// SIGKILL to G after the grace period. The guard also polls its parent: when batonctl
/// dies (even from SIGKILL) the guard stops the group within about 100 ms, so the command
/// never outlives the process that renews its lease. The guard exits with CMD's status
/// (128+N when CMD died from signal N).
final class ChildProcess: Sendable {
    /// The guard's pid, which is also the process group id.
    let pid: pid_t
    /// The wait status, set once by the thread that reaps the guard.
    private let rawStatus = Mutex<Int32?>(nil)

    private init(pid: pid_t) { self.pid = pid }

    /// The exit code once the guard has exited: its code, or 128+N after signal N.
    var exitCode: Int32? {
        rawStatus.withLock { $0 }.map(ChildProcess.exitCode(fromWaitStatus:))
    }

    static func exitCode(fromWaitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        if signal == 0 { return (status >> 8) & 0xff }
        return 128 + signal
    }

    /// Sends `signal` to the guard, which relays it to the command's process group.
    func signalGuard(_ signal: Int32) {
        if exitCode == nil { _ = kill(pid, signal) }
    }

    /// Sends `signal` to every process of the command's group (the backstop: the guard
    /// normally does this itself).
    func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    private func finish(_ status: Int32) {
        rawStatus.withLock { $0 = status }
    }

    static var executablePath: String {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return "/proc/self/exe"
        #else
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
        #endif
    }

    /// Starts `command` behind a guard. The spawn happens on a thread of its own that then
    /// waits for the guard, so the exit status is collected as soon as it ends.
    static func spawn(command: [String], environment: [String: String], graceMs: Int64) throws -> ChildProcess {
        precondition(!command.isEmpty)
        let argv = [executablePath, GuardCommand.name, "--parent-pid", String(getpid()), "--grace-ms", String(graceMs), "--"] + command
        let env = environment.map { "\($0.key)=\($0.value)" }

        // Safe without a lock: the spawning thread writes these only before `ready.signal()`,
        // and the caller reads them only after `ready.wait()`, which orders the accesses.
        final class Box: @unchecked Sendable {
            var pid: pid_t = 0
            var error: Int32 = 0
            var child: ChildProcess?
            let ready = DispatchSemaphore(value: 0)
        }
        let box = Box()
        let thread = Thread {
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            let flags = Int32(POSIX_SPAWN_SETPGROUP) | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
            posix_spawnattr_setflags(&attr, Int16(flags))
            posix_spawnattr_setpgroup(&attr, 0)
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attr, &empty)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
            posix_spawnattr_setsigdefault(&attr, &defaults)

            var pid: pid_t = 0
            let rc = withCStrings(argv) { cArgv in
                withCStrings(env) { cEnv in
                    posix_spawn(&pid, argv[0], nil, &attr, cArgv, cEnv)
                }
            }
            if rc != 0 {
                box.error = rc
                box.ready.signal()
                return
            }
            let child = ChildProcess(pid: pid)
            box.pid = pid
            box.child = child
            box.ready.signal()
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                if errno != EINTR {
                    status = 127 << 8
                    break
                }
            }
            child.finish(status)
        }
        thread.name = "batonctl-child"
        thread.start()
        box.ready.wait()
        if let child = box.child { return child }
        throw ChildError.spawnFailed(command[0], String(cString: strerror(box.error)))
    }
}

enum ChildError: Error, CustomStringConvertible {
    case spawnFailed(String, String)

    var description: String {
        switch self {
        case .spawnFailed(let cmd, let why): return "cannot start \(cmd): \(why)"
        }
    }
}
