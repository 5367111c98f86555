internal import Glibc

/// How many CPUs this process may use, for sizing thread pools.
public enum ProcessorCount {
    /// The CPUs in the affinity mask (a cpuset or `taskset`), capped by a cgroup v2 CPU
    /// quota rounded up (`/sys/fs/cgroup/cpu.max`, the Kubernetes CPU limit), at least 1.
    public static func available() -> Int {
        var online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        // sched_getaffinity is a GNU extension the Glibc module does not export; the
        // kernel shows the same mask in /proc/self/status.
        if let status = FileContents.text(atPath: "/proc/self/status"), let allowed = affinity(status: status) {
            online = min(online, allowed)
        }
        if let quota = cgroupQuota() { online = min(online, quota) }
        return max(1, online)
    }

    /// The CPUs set in the `Cpus_allowed:` hex mask of /proc/self/status (`ff` or
    /// `00000000,0000000f`), nil when absent or empty.
    public static func affinity(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let bits = line.dropFirst("Cpus_allowed:".count).reduce(0) { n, c in n + (c.hexDigitValue ?? 0).nonzeroBitCount }
        return bits > 0 ? bits : nil
    }

    /// `ceil(quota / period)` from cpu.max (`"max 100000"` when unlimited: nil).
    static func cgroupQuota() -> Int? {
        guard let text = FileContents.text(atPath: "/sys/fs/cgroup/cpu.max") else { return nil }
        return quota(cpuMax: text)
    }

    /// The parser of ``cgroupQuota()``, separate for tests.
    public static func quota(cpuMax text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let quota = Int(fields[0]), let period = Int(fields[1]), quota > 0, period > 0 else { return nil }
        return (quota + period - 1) / period
    }
}
