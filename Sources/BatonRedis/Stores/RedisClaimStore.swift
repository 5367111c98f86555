public import BatonCore

/// Task claims in Redis: each operation is one Lua script (see ``TaskScripts``).
public struct RedisClaimStore: ClaimStore {
    public let redis: PerThreadRedis
    /// How long a completed slot is remembered after its claim has gone.
    public let slotMemoryMs: Int

    /// When set, claims and extensions wait for replicas (see ``ReplicaWait``).
    public let wait: ReplicaWait?

    public init(redis: PerThreadRedis, slotMemoryMs: Int = 30 * 86_400_000, wait: ReplicaWait? = nil) {
        self.redis = redis
        self.slotMemoryMs = slotMemoryMs
        self.wait = wait
    }

    public func claim(_ request: ClaimRequest, runId: String, guardrails: () -> Guardrails) throws(BackendError) -> ClaimResult {
        var keys = [RedisKeys.claim(request.task), RedisKeys.taskMeta(request.task)]
        if let slot = request.slot { keys.append(RedisKeys.slot(request.task, slot)) }
        let r = try run(TaskScripts.claim, request.task, keys) { command, server in
            let g = guardrails()
            command.append(request.holder.value)
            command.append(runId)
            command.append(request.lockAtMostMs)
            command.append(request.lockAtLeastMs)
            command.append(g.floor)
            command.append(request.slot?.value ?? "")
            command.append(g.recoveryWindowMs)
            command.append(g.carriedWindowMs)
            command.append(server)
        }
        if r[0].integer == 5 { return .recovering(retryAfterMs: Int(r.count > 1 ? r[1].integer ?? 0 : 0)) }
        let claim = try decode(request.task, r)
        switch r[0].integer {
        case 1:
            guard let claim else { throw BackendError(.protocolError, "task_claim: claimed without a claim") }
            try wait?.confirm(on: redis.route(forKey: RedisKeys.claim(request.task))) { _ = try? void(request.task, runId: runId) }
            return .claimed(claim)
        case 2: return .refused(.held, current: claim)
        case 3: return .refused(.recentlyCompleted, current: claim)
        default: return .refused(.slotDone, current: claim)
        }
    }

    public func extend(_ task: TaskName, runId: String, holder: Holder, lockAtMostMs: Int,
                       guardrails: () -> Guardrails) throws(BackendError) -> ExtendResult {
        let r = try run(TaskScripts.extend, task, keys(task)) { command, server in
            command.append(runId)
            command.append(holder.value)
            command.append(lockAtMostMs)
            command.append(guardrails(), serverRunId: server)
        }
        let claim = try decode(task, r)
        if r[0].integer == 1, let claim {
            try wait?.confirm(on: redis.route(forKey: RedisKeys.claim(task)))
            return .extended(claim)
        }
        return .lost(claim)
    }

    public func complete(_ task: TaskName, runId: String, holder: Holder, status: RunStatus) throws(BackendError) -> CompleteResult {
        let r = try run(TaskScripts.complete, task, keys(task)) { command, server in
            command.append(runId)
            command.append(holder.value)
            command.append(status.rawValue)
            command.append(slotMemoryMs)
            command.append(server)
        }
        let claim = try decode(task, r)
        if r[0].integer == 1, let claim { return .completed(claim) }
        return .late(current: claim)
    }

    public func claim(of task: TaskName) throws(BackendError) -> TaskClaim? {
        try decode(task, try run(TaskScripts.state, task, keys(task)) { command, server in command.append(server) })
    }

    public func void(_ task: TaskName, runId: String) throws(BackendError) -> Bool {
        try VoidScripts.claim.run(on: redis.route(forKey: RedisKeys.claim(task)), keys: [RedisKeys.claim(task)], args: [runId]).integer == 1
    }

    /// Under Cluster, the master the task's slot is on (see ``RedisLeaseStore/failureDomain(of:)``).
    public func failureDomain(of task: TaskName) -> String? { redis.failureDomain(ofKey: RedisKeys.claim(task)) }

    public func knownTasks() throws(BackendError) -> [TaskName] {
        try scan(redis, pattern: RedisKeys.taskMetaPattern).compactMap { RedisKeys.tag(of: $0).flatMap(TaskName.init) }
    }

    private func keys(_ task: TaskName) -> [String] { [RedisKeys.claim(task), RedisKeys.taskMeta(task)] }

    private func run(_ script: LuaScript, _ task: TaskName, _ keys: [String],
                     _ args: (inout RedisCommand, String) -> Void) throws(BackendError) -> [RedisReply] {
        let reply = try script.run(on: redis.route(forKey: keys[0]), keys: keys, args: args)
        guard let items = reply.array, !items.isEmpty, items[0].integer != nil else {
            throw BackendError(.protocolError, "script \(script.name): unexpected reply")
        }
        return items
    }

    /// `{code, run_id, holder, slot, token, claimed_at, at_most, at_least, state, pttl}`; nil for `{code}`.
    private func decode(_ task: TaskName, _ r: [RedisReply]) throws(BackendError) -> TaskClaim? {
        guard r.count > 1 else { return nil }
        guard r.count >= 10, let runId = r[1].string, let holder = r[2].string.flatMap(Holder.init),
              let slot = r[3].string, let token = r[4].integer, let at = r[5].integer,
              let most = r[6].integer, let least = r[7].integer,
              let state = r[8].string.flatMap(TaskClaim.State.init), let pttl = r[9].integer else {
            throw BackendError(.protocolError, "task script: malformed claim")
        }
        return TaskClaim(task: task, runId: runId, holder: holder, slot: slot.isEmpty ? nil : Slot(slot),
                         fencingToken: FencingToken(token), claimedAtMs: at, lockAtMostMs: Int(most),
                         lockAtLeastMs: Int(least), expiresInMs: Int(max(0, pttl)), state: state)
    }
}
