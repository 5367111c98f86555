import Glibc

/// Termination signals, delivered synchronously to one waiting thread.
///
/// SIGTERM and SIGINT are blocked before any thread starts, so every thread inherits the
/// mask and only ``waitForTermination()`` receives them: no async-signal-safety concerns.
/// SIGPIPE is ignored: a client hanging up must not kill the server.
enum Signals {
    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        var set = terminationSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Blocks until SIGTERM or SIGINT; returns its name.
    static func waitForTermination() -> String {
        var set = terminationSet()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received == SIGTERM ? "SIGTERM" : "SIGINT"
    }

    private static func terminationSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
