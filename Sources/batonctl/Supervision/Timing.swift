import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The timing of one supervised run, derived from the lease TTL or claim duration.
struct Timing: Sendable, Equatable {
    /// The TTL (lease) or lock-at-most (claim).
    var periodMs: Int64
    /// SIGTERM to SIGKILL.
    var graceMs: Int64
    /// Kept between the SIGKILL and the server-side expiry.
    var safetyMs: Int64
    /// Renew or extend this often.
    var renewEveryMs: Int64
    /// After a failed renewal, try again this soon.
    var retryEveryMs: Int64

    init(periodMs: Int64, graceMs: Int64? = nil) {
        self.periodMs = periodMs
        self.graceMs = graceMs ?? min(5000, periodMs / 6)
        self.safetyMs = min(1000, periodMs / 10)
        self.renewEveryMs = max(periodMs / 3, 100)
        self.retryEveryMs = max(200, min(1000, periodMs / 10))
    }

    /// SIGTERM this long before the lease or claim would expire (so the SIGKILL, if
    /// needed, still lands `safetyMs` before it).
    var marginMs: Int64 { graceMs + safetyMs }

    /// A renewal's timeout: no longer than the renewal interval, so a stalled request
    /// leaves room for a retry before the deadline.
    func requestTimeoutMs(limit: Int64) -> Int64 {
        max(300, min(limit, renewEveryMs))
    }
}
