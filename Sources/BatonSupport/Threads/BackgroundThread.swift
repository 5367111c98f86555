internal import Glibc

/// A detached pthread for a long-running background loop (the history writer, the
/// Redis and Sentinel watchers): what Foundation's `Thread` was used for, without
/// linking Foundation into batond.
public enum BackgroundThread {
    /// Starts `body` on a new detached thread named `name` (at most 15 bytes are kept:
    /// the kernel's limit, shown by `ps -L` and in core dumps).
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, runThreadBody, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    /// Blocks the calling thread for `ms` milliseconds (resumed after signals).
    public static func sleep(ms: Int) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}

private final class ThreadBody: Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// The pthread entry point: a top-level function (a capturing closure cannot become a
/// C callback), the body passed through the retained context pointer.
private func runThreadBody(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
    nameThisThread(box.name)
    box.body()
    return nil
}

/// Names the calling thread through procfs (pthread_setname_np is a GNU extension the
/// Glibc module does not export): the kernel keeps the first 15 bytes.
private func nameThisThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
