public import BatonCore

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
            Self.appendAcquireArguments(to: &command, holder: holder, ttlMs: ttlMs, guardrails: guardrails(), serverRunId: runId)
        }
        let result = try LeaseReplies.acquire(r)
        switch result {
        case .acquired(let tenure, _):
            // A new tenure nobody has been told of yet: voided if the replicas do not confirm it.
            try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease))) { _ = try? release(lease, holder: holder, fencingToken: tenure.fencingToken) }
        case .renewed:
            try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease)))
        case .heldByOther, .recovering:
            break
        }
        return result
    }

    /// The acquire script's arguments after its keys (see ``LeaseScripts/acquire``), for the
    /// blocking call and the pipelined one alike.
    static func appendAcquireArguments(to command: inout RedisCommand, holder: Holder, ttlMs: Int, guardrails: Guardrails,
                                       serverRunId: String) {
        command.append(holder.value)
        command.append(ttlMs)
        command.append(guardrails, serverRunId: serverRunId)
    }

    public func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
                      guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
        let r = try run(LeaseScripts.renew, lease) { command, runId in
            command.append(holder.value)
            command.append(ttlMs)
            if let fencingToken { command.append(fencingToken.value) } else { command.append("") }
            command.append(guardrails(), serverRunId: runId)
        }
        let result = try LeaseReplies.renew(r)
        // Unconfirmed, the renewal still stands in Redis but is not promised: the holder
        // keeps only what it was told before.
        if case .renewed = result { try wait?.confirm(on: redis.route(forKey: RedisKeys.lease(lease))) }
        return result
    }

    public func release(_ lease: LeaseName, holder: Holder, fencingToken: FencingToken?) throws(BackendError) -> ReleaseResult {
        let r = try run(LeaseScripts.release, lease) { command, runId in
            command.append(holder.value)
            command.append(fencingToken.map { String($0.value) } ?? "")
            command.append(runId)
        }
        return try LeaseReplies.release(r)
    }

    public func tenure(of lease: LeaseName) throws(BackendError) -> Tenure? {
        try LeaseReplies.state(try run(LeaseScripts.state, lease) { command, runId in command.append(runId) })
    }

    /// Under Cluster, the master the lease's slot is on: a failover of one shard opens only
    /// that shard's breaker (see ``BreakerDomains``).
    public func failureDomain(of lease: LeaseName) -> String? { redis.failureDomain(ofKey: RedisKeys.lease(lease)) }

    public func knownLeases() throws(BackendError) -> [LeaseName] {
        try scan(redis, pattern: RedisKeys.leaseMetaPattern).compactMap { RedisKeys.tag(of: $0).flatMap(LeaseName.init) }
    }

    private func run(_ script: LuaScript, _ lease: LeaseName,
                     _ args: (inout RedisCommand, String) -> Void) throws(BackendError) -> RedisReply {
        try script.run(on: redis.route(forKey: RedisKeys.lease(lease)), keyCount: 2,
                       keys: { RedisKeys.appendLeaseKeys(lease, to: &$0) }, args: args)
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
