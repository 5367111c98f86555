import BatonCore

/// Lua shared by the lease and task scripts: the clock, how a resource's data from an
/// earlier Redis server is settled, and the next fencing token. Kept in one place so both
/// kinds of resource follow one rule.
///
/// Each resource's meta hash records the `run_id` of the server that last handed out one
/// of its tokens (`epoch`). Baton passes the run id of the server it is talking to; when
/// they differ — a restart, a failover, or the data is simply gone — what this server holds
/// about the resource may be behind what was acknowledged (a lagging replica missed a
/// renewal, or a newer tenure), so:
/// - the tenure or running claim found here is void;
/// - the counter jumps to the server's clock in microseconds, above every token handed out
///   before by any Baton replica without having to know them (tokens are handed out far
///   slower than one per microsecond, and a new server starts later than the old one's
///   last grant);
/// - new grants wait for the recovery window Baton passes (what it knows may still be
///   believed), kept in `recover_until` so every replica honours it.
///
/// The meta hash expires once nothing needs it (``metaGraceMs`` after the resource's key
/// and any recovery window have run out): a vacant resource then has no key at all, which
/// is exactly what `settle` already handles for a server that lost its data — the counter
/// restarts at the clock in µs, above every token handed out before (and above Baton's
/// floor), and a tenure or claim is never voided by it because the hash outlives the
/// resource's key. A call that grants nothing writes nothing, so refusals (a renew of a
/// vacant lease, a claim of a held task) cannot fill Redis (issue 15: 4,926 refused
/// renews filled a 1.5 MB `maxmemory` headroom under `noeviction`).
enum FencingLua {
    /// What a renewal needs: the grace period, the clock, holding off grants, reading the
    /// meta hash, and its expiry after a renewal. Every script starts with it; the holder's
    /// renewal in the acquire and renew scripts runs right after it, before ``prelude`` (see
    /// ``LeaseScripts``).
    static let renewal = """
    -- How long a meta hash outlives what needs it (1 day): long enough that a lease or a
    -- daily task in use keeps consecutive tokens and stays in GET /leases and GET /tasks.
    local META_GRACE_MS = 86400000
    local function now_ms()
      local t = redis.call('TIME')
      return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    local function hold_off(meta, now, window)
      if window <= 0 then return end
      local until_ms = tonumber(redis.call('HGET', meta, 'recover_until') or '0')
      if now + window > until_ms then redis.call('HSET', meta, 'recover_until', string.format('%d', now + window)) end
    end
    -- The renew paths read the meta hash once: its epoch (as `foreign` compares it) and
    -- recover_until (as `keep_meta` reads it). Two calls fewer per renewal (issue 17).
    local function meta_of(meta, epoch)
      local m = redis.call('HMGET', meta, 'epoch', 'recover_until')
      return epoch ~= '' and m[1] ~= epoch, tonumber(m[2] or '0')
    end
    -- After a renewal, with recover_until already read: the carried window raises it first
    -- (hold_off), then the hash outlives the key and recover_until by META_GRACE_MS. The
    -- clock is read only when one of those windows is set.
    local function renewed_meta(meta, key_ttl, until_ms, carried)
      local keep = key_ttl
      if carried > 0 or until_ms > 0 then
        local now = now_ms()
        if carried > 0 then
          hold_off(meta, now, carried)
          until_ms = math.max(until_ms, now + carried)
        end
        keep = math.max(key_ttl, until_ms - now, 0)
      end
      redis.call('PEXPIRE', meta, keep + META_GRACE_MS)
    end

    """

    /// The rest of the shared Lua: settling a resource from an earlier server, refusals'
    /// windows, the next fencing token, the change index.
    static let prelude = """
    -- The meta hash lives while the resource's key does (`key_ttl` ms from now), while new
    -- grants are held off (recover_until), then META_GRACE_MS more.
    local function keep_meta(meta, key_ttl, now)
      local until_ms = tonumber(redis.call('HGET', meta, 'recover_until') or '0')
      redis.call('PEXPIRE', meta, math.max(key_ttl, until_ms - now, 0) + META_GRACE_MS)
    end
    -- True when the meta hash was not written by this server (epoch ~= ''): the caller
    -- voids what it found. `carried` holds off new grants in any case (see Guardrails).
    local function settle(meta, epoch, floor, window, carried, now)
      hold_off(meta, now, carried)
      if epoch == '' or redis.call('HGET', meta, 'epoch') == epoch then return false end
      local t = redis.call('TIME')
      local tok = tonumber(redis.call('HGET', meta, 'token') or '0')
      local jump = math.max(tok, floor, tonumber(t[1]) * 1000000 + tonumber(t[2]))
      redis.call('HSET', meta, 'epoch', epoch, 'token', string.format('%d', jump))
      hold_off(meta, now, window)
      return true
    end
    -- Whether the meta hash is from another server (read-only scripts treat its tenure as void).
    local function foreign(meta, epoch)
      return epoch ~= '' and redis.call('HGET', meta, 'epoch') ~= epoch
    end
    -- A refusal writes nothing, except what fencing needs: a window Baton passes (the carried
    -- window after this replica saw the server change, or the resource's recovery window when
    -- the hash is from another server) must reach `recover_until` even when this call grants
    -- nothing, or another replica that did not grant those tenures hands the resource out while
    -- they may still be believed (chaos/safety.py with two replicas: 3 overlapping tenures in
    -- 30 s when refused renews stopped writing it). Without such a window nothing is written; a
    -- hash made only for it expires with the window.
    local function note_windows(meta, epoch, window, carried, now)
      local w = carried
      if foreign(meta, epoch) then w = math.max(w, window) end
      if w <= 0 then return end
      local existed = redis.call('EXISTS', meta) == 1
      hold_off(meta, now, w)
      if existed then keep_meta(meta, 0, now) else redis.call('PEXPIRE', meta, w) end
    end
    -- The next fencing token, or nil and the time to wait while recovering. A token at or
    -- below the floor (the highest one Baton knows was handed out) means the counter went
    -- backwards without a change of server (its keys were deleted): it is raised to the
    -- floor and, while an earlier grant may still be believed valid, nothing is granted.
    local function next_token(meta, floor, window, now)
      local until_ms = tonumber(redis.call('HGET', meta, 'recover_until') or '0')
      if now < until_ms then return nil, until_ms - now end
      local tok = redis.call('HINCRBY', meta, 'token', 1)
      if tok <= floor then
        redis.call('HSET', meta, 'token', string.format('%d', floor))
        if window > 0 then
          hold_off(meta, now, window)
          return nil, window
        end
        tok = redis.call('HINCRBY', meta, 'token', 1)
      end
      return tok, 0
    end
    -- Change index (issue 18): `index` grows with every change a watcher waits for (a tenure
    -- or claim begins or ends, a run completes; renewals and extensions do not count), and
    -- the script publishes the resource's key on `baton:changes` so every batond wakes its
    -- watchers. A tenure or claim that ends by expiry is not written by anyone (Redis drops
    -- the key), so `live` says one was there: a read that finds the key gone counts one
    -- more (see `index_of`), and the next grant writes that one down before its own.
    local function changed(meta, key)
      redis.call('HINCRBY', meta, 'index', 1)
      redis.call('PUBLISH', 'baton:changes', key)
    end
    local function began(meta, key)
      if redis.call('HGET', meta, 'live') == '1' then redis.call('HINCRBY', meta, 'index', 1) end
      redis.call('HSET', meta, 'live', '1')
      changed(meta, key)
    end
    local function ended(meta, key)
      redis.call('HSET', meta, 'live', '0')
      changed(meta, key)
    end
    -- The index as a read sees it: `gone` when the tenure or claim that `live` marks is no
    -- longer there (expired, or void because another server wrote it).
    local function index_of(meta, gone)
      local i = tonumber(redis.call('HGET', meta, 'index') or '0')
      if gone and redis.call('HGET', meta, 'live') == '1' then i = i + 1 end
      return i
    end

    """
}

extension RedisCommand {
    /// Floor, recovery window, carried window and the server's run id: the last ARGV of
    /// every script that may settle a lease or a task.
    mutating func append(_ g: Guardrails, serverRunId: String) {
        append(g.floor)
        append(g.recoveryWindowMs)
        append(g.carriedWindowMs)
        append(serverRunId)
    }
}
