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
        let result = try LeaseReplies.acquire(r)
        switch result {
        case .acquired(let tenure, _):
            // A new tenure nobody has been told of yet: voided if the replicas do not confirm it.
            try wait?.confirm(on: redis.connection) { _ = try? release(lease, holder: holder, fencingToken: tenure.fencingToken) }
        case .renewed:
            try wait?.confirm(on: redis.connection)
        case .heldByOther, .recovering:
            break
        }
        return result
    }

    public func renew(_ lease: LeaseName, holder: Holder, ttlMs: Int, fencingToken: FencingToken?,
                      guardrails: () -> Guardrails) throws(BackendError) -> RenewResult {
        let r = try run(LeaseScripts.renew, lease) { command, runId in
            command.append(holder.value)
            command.append(ttlMs)
            command.append(fencingToken.map { String($0.value) } ?? "")
            command.append(guardrails(), serverRunId: runId)
        }
        let result = try LeaseReplies.renew(r)
        // Unconfirmed, the renewal still stands in Redis but is not promised: the holder
        // keeps only what it was told before.
        if case .renewed = result { try wait?.confirm(on: redis.connection) }
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

    public func knownLeases() throws(BackendError) -> [LeaseName] {
        try scan(redis.connection, pattern: RedisKeys.leaseMetaPattern).compactMap { RedisKeys.tag(of: $0).flatMap(LeaseName.init) }
    }

    private func run(_ script: LuaScript, _ lease: LeaseName,
                     _ args: (inout RedisCommand, String) -> Void) throws(BackendError) -> RedisReply {
        try script.run(on: redis.connection, keys: [RedisKeys.lease(lease), RedisKeys.leaseMeta(lease)], args: args)
    }
}

/// All keys matching `pattern`, by SCAN (never KEYS, which blocks the server).
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
