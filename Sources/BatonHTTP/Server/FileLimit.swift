import Glibc

/// The open-file limit, and how many client connections fit under it.
///
/// Every client connection takes a file descriptor, and so does every Redis and
/// PostgreSQL connection a worker (re)opens. If clients can take them all (a flood of
/// connections, slowloris), a worker that must reconnect to Redis gets EMFILE: Redis
/// looks down, the breaker opens and leases are granted in degraded mode. So the soft
/// limit is raised to the hard one, and client connections are capped below it, leaving
/// room for the backends. (Measured with chaos/hostile.py under a 1024 soft limit.)
public enum FileLimit {
    /// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit in force.
    @discardableResult
    public static func raiseToHard() -> Int {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var r = rlimit()
        guard getrlimit(resource, &r) == 0 else { return Int.max }
        if r.rlim_cur < r.rlim_max {
            var raised = r
            raised.rlim_cur = r.rlim_max
            if setrlimit(resource, &raised) == 0 { r = raised }
        }
        return r.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(r.rlim_cur)
    }

    /// Descriptors kept for everything but client connections: per worker thread one Redis
    /// and one PostgreSQL connection and its event descriptors, plus the process's own.
    public static func reserve(threads: Int) -> Int { 4 * threads + 64 }

    /// `wanted`, or fewer client connections when the file limit leaves less room.
    public static func connectionLimit(wanted: Int, threads: Int, fileLimit: Int) -> Int {
        guard fileLimit != Int.max else { return wanted }
        return max(16, min(wanted, fileLimit - reserve(threads: threads)))
    }
}
