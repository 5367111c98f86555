import BatonCore

/// Leases in Redis: each operation is one Lua script (see ``LeaseScripts``); TTLs are
/// Redis' own, so nothing about a lease lives in this process.
public struct RedisLeaseStore: LeaseStore {
    public let redis: PerThreadRedis
    /// When set, grants wait for replicas (see ``ReplicaWait``).
    public let wait: ReplicaWait?

    public init(redis: PerThreadRedis, wait: ReplicaWait? = nil) {
        self.redis = redis
        self.wait = wait
    }

    public func acquire(_ lease: LeaseName, holder: Holder, ttlMs: Int, guardrails: () -> Guardrails) throws(BackendError) -> AcquireResult {
        let r = try run(LeaseScripts.acquire, lease) { command, runId in
            command.append(holder.value)
            command.append(ttlMs)
            command.append(guardrails(), serverRunId: runId)
        }
        if r[0].integer == 3 { return .recovering(retryAfterMs: Int(r.count > 1 ? r[1].integer ?? 0 : 0)) }
        let tenure = try decode(r)
        switch r.first?.integer {
        case 1:
            // A new tenure nobody has been told of yet: voided if the replicas do not confirm it.
            try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease))) { _ = try? release(lease, holder: holder, fencingToken: tenure!.fencingToken) }
            return .acquired(tenure!, previousHolder: r.count > 6 ? r[6].string.flatMap(Holder.init) : nil)
        case 2:
            try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease)))
            return .renewed(tenure!)
        default: return .heldByOther(tenure!)
        }
    }

    public func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
                      guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
        let r = try run(LeaseScripts.renew, lease) { command, runId in
            command.append(holder.value)
            command.append(ttlMs)
            command.append(fencingToken.map { String($0.value) } ?? "")
            command.append(guardrails(), serverRunId: runId)
        }
        let tenure = try decode(r)
        guard r.first?.integer == 1 else { return .notHeld(tenure) }
        // Unconfirmed, the renewal still stands in Redis but is not promised: the holder
        // keeps only what it was told before.
        try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease)))
        return .renewed(tenure!)
    }

    public func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
        let r = try run(LeaseScripts.release, lease) { command, runId in
            command.append(holder.value)
            command.append(fencingToken.map { String($0.value) } ?? "")
            command.append(runId)
        }
        let tenure = try decode(r)
        switch r.first?.integer {
        case 1: return .released(tenure!)
        case 2: return .vacant
        default: return .heldByOther(tenure!)
        }
    }

    public func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? {
        try decode(try run(LeaseScripts.state, lease) { command, runId in command.append(runId) })
    }

    /// Under Cluster, the master the lease's slot is on: a failover of one shard opens only
    /// that shard's breaker (see ``BreakerDomains``).
    public func failureDomain(of lease: LeaseName) -> String? { redis.failureDomain(ofKey: RedisKeys.lease(lease)) }

    public func knownLeases() throws(BackendError) -> [LeaseName] {
        try scan(redis, pattern: RedisKeys.leaseMetaPattern).compactMap { RedisKeys.tag(of: $0).flatMap(LeaseName.init) }
    }

    private func run(_ script: LuaScript, _ lease: LeaseName,
                     _ args: (inout RedisCommand, String) -> Void) throws(BackendError) -> [RedisReply] {
        let reply = try script.run(on: redis.route(forKey: RedisKeys.lease(lease)), keys: [RedisKeys.lease(lease), RedisKeys.leaseMeta(lease)], args: args)
        guard let items = reply.array, !items.isEmpty, items[0].integer != nil else {
            throw BackendError(.protocolError, "script \(script.name): unexpected reply")
        }
        return items
    }

    /// `{code, holder, token, acquired_at, ttl, pttl}` to a tenure; nil for `{code}`.
    private func decode(_ r: [RedisReply]) throws(BackendError) -> Tenure? {
        guard r.count > 1 else { return nil }
        guard r.count >= 6, let h = r[1].string.flatMap(Holder.init), let token = r[2].integer,
              let at = r[3].integer, let ttl = r[4].integer, let pttl = r[5].integer else {
            throw BackendError(.protocolError, "lease script: malformed tenure")
        }
        return Tenure(holder: h, fencingToken: FencingToken(token), acquiredAtMs: at, ttlMs: Int(ttl), expiresInMs: Int(max(0, pttl)))
    }
}

/// All keys matching `pattern` on every master, by SCAN (never KEYS, which blocks the server).
func scan(_ redis: PerThreadRedis, pattern: String) throws(BackendError) -> [String] {
    var keys: [String] = []
    for connection in redis.masterConnections() { keys += try scan(connection, pattern: pattern) }
    return Array(Set(keys))
}

/// All keys matching `pattern` on one server.
func scan(_ connection: RedisConnection, pattern: String) throws(BackendError) -> [String] {
    var cursor = "0"
    var keys: [String] = []
    repeat {
        let reply = try connection.command(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array else {
            throw BackendError(.protocolError, "SCAN: unexpected reply")
        }
        keys.append(contentsOf: batch.compactMap(\.string))
        cursor = next
    } while cursor != "0"
    return Array(Set(keys))  // SCAN may return a key more than once
}
