import BatonCore

/// `BATON_REDIS_WAIT_REPLICAS` / `BATON_REDIS_WAIT_MS`: a grant (a new tenure, a claim, a
/// renewal or extension) is acknowledged only once `WAIT` says `replicas` replicas have it,
/// so a failover to one of them does not forget it. Short of that the grant is voided when
/// it is new (nobody was told of it) and the caller gets 503 `redis_wait_replicas`, never a
/// degraded grant: the master answers, it is the replication that is behind.
public struct ReplicaWait: Sendable, Equatable {
    public var replicas: Int
    public var timeoutMs: Int

    public init(replicas: Int, timeoutMs: Int) {
        self.replicas = replicas
        self.timeoutMs = timeoutMs
    }

    /// Waits on the connection that just wrote; runs `void` and throws when too few replicas confirm.
    func confirm(on c: any RedisCommanding, void: () -> Void = {}) throws(BackendError) {
        let acked: Int64
        do {
            acked = try c.command(words: ["WAIT", String(replicas), String(timeoutMs)]).integer ?? 0
        } catch {
            void()
            throw error
        }
        guard acked >= Int64(replicas) else {
            void()
            throw BackendError(misconfigured: .replicasBehind,
                               "WAIT: \(acked) of \(replicas) replicas confirmed within \(timeoutMs) ms; the grant was not given")
        }
    }
}
