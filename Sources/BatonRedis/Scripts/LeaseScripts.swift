/// The lease scripts. Keys of one lease share the hash tag `{lease}`:
/// - `baton:lease:{L}`       hash holder, token, acquired_at, ttl — expires with the tenure (PX)
/// - `baton:lease:{L}:meta`  hash token (fencing counter), epoch (server run id), last_holder,
///                           recover_until — expires a grace period after the tenure and any
///                           recovery window (see ``FencingLua``)
///
/// A call that grants nothing (a refused acquire, renew or release) writes nothing.
///
/// Every script answers `{code, holder, token, acquired_at, ttl, pttl[, previous_holder]}`
/// (only `{code}` when the lease is vacant). Time comes from Redis (`TIME`), so replicas
/// with skewed clocks agree. The last ARGV of each is the run id of the server Baton is
/// talking to (see ``FencingLua``).
enum LeaseScripts {
    /// ARGV: holder, ttl, fencing floor, recovery window, carried window, run id.
    /// Codes: 1 acquired, 2 renewed, 0 held by another, 3 recovering (`{3, retry_ms}`).
    static let acquire = LuaScript(name: "lease_acquire", source: FencingLua.renewal + tenureRenewal + holderRenewal + FencingLua.prelude + """
    local now = now_ms()
    local ttl = tonumber(ARGV[2])
    local floor = tonumber(ARGV[3])
    local window = tonumber(ARGV[4])
    -- Held by another under this server: nothing to settle (its holder's renewal returned above).
    if not is_foreign and cur[1] then
      note_windows(KEYS[2], ARGV[6], window, tonumber(ARGV[5]), now)
      return {0, cur[1], tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4]), redis.call('PTTL', KEYS[1])}
    end
    if settle(KEYS[2], ARGV[6], floor, window, tonumber(ARGV[5]), now) then redis.call('DEL', KEYS[1]) end
    local tok, wait = next_token(KEYS[2], floor, window, now)
    if not tok then
      keep_meta(KEYS[2], 0, now)
      return {3, wait}
    end
    local prev = redis.call('HGET', KEYS[2], 'last_holder')
    redis.call('HSET', KEYS[2], 'last_holder', ARGV[1])
    redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', tok, 'acquired_at', now, 'ttl', ttl)
    redis.call('PEXPIRE', KEYS[1], ttl)
    began(KEYS[2], KEYS[1])
    keep_meta(KEYS[2], ttl, now)
    return {1, ARGV[1], tok, now, ttl, ttl, prev}
    """)

    /// A holder's renewal of its tenure, shared by the acquire and renew scripts: the lease
    /// key (KEYS[1]) and the meta hash (KEYS[2]) are extended by the new ttl. Returns the ttl
    /// as a number.
    static let tenureRenewal = """
    local function renew_tenure(cur, ttl_arg, until_ms, carried)
      local ttl = tonumber(ttl_arg)
      -- The ttl field is written only when it changes (a holder renews with the same ttl).
      if cur[4] ~= ttl_arg then redis.call('HSET', KEYS[1], 'ttl', ttl) end
      redis.call('PEXPIRE', KEYS[1], ttl)
      renewed_meta(KEYS[2], ttl, until_ms, carried)
      return ttl
    end

    """

    /// The acquire script's first part: a renewal by the lease's holder under this server,
    /// answered after ``FencingLua/renewal`` and before ``FencingLua/prelude`` defines the
    /// other helpers. It is most calls (every replica's `POST /leader`, every few seconds),
    /// and Redis 7.0's Lua makes each `local function` a new closure on every call: returning
    /// before those exist saves Redis about 2 µs of its ~11 per call (bench/README.md). The
    /// reads are the ones the rest of the script goes on with (`is_foreign`, `until_ms`, `cur`).
    static let holderRenewal = """
    local is_foreign, until_ms = meta_of(KEYS[2], ARGV[6])
    local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'acquired_at', 'ttl')
    if not is_foreign and cur[1] == ARGV[1] then
      local ttl = renew_tenure(cur, ARGV[2], until_ms, tonumber(ARGV[5]))
      return {2, cur[1], tonumber(cur[2]), tonumber(cur[3]), ttl, ttl}
    end

    """

    /// ARGV: holder, ttl, fencing token ('' for any), fencing floor, recovery window,
    /// carried window, run id. Codes: 1 renewed, 0 not held.
    static let renew = LuaScript(name: "lease_renew", source: FencingLua.renewal + tenureRenewal + holderRenewalForRenew + FencingLua.prelude + """
    -- Not renewed (the holder's renewal returned above): a refusal writes only the windows.
    note_windows(KEYS[2], ARGV[7], tonumber(ARGV[5]), tonumber(ARGV[6]), now_ms())
    -- A tenure from an earlier server is void: not held (the next acquire settles it).
    if is_foreign or not cur[1] then return {0} end
    return {0, cur[1], tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4]), redis.call('PTTL', KEYS[1])}
    """)

    /// The renew script's first part, answered before ``FencingLua/prelude`` as the acquire
    /// script's ``holderRenewal`` is, and without reading the clock unless a window is set
    /// (``FencingLua/renewal``'s `renewed_meta`). `cur` stays empty when the meta hash is from
    /// another server: that tenure is void and its fields are not read.
    static let holderRenewalForRenew = """
    local is_foreign, until_ms = meta_of(KEYS[2], ARGV[7])
    local cur = {}
    if not is_foreign then
      cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'acquired_at', 'ttl')
      if cur[1] == ARGV[1] and (ARGV[3] == '' or ARGV[3] == cur[2]) then
        local ttl = renew_tenure(cur, ARGV[2], until_ms, tonumber(ARGV[6]))
        -- Not a change (`index` stays): counted apart, for watchers that ask for renewals.
        redis.call('HINCRBY', KEYS[2], 'renewals', 1)
        redis.call('PUBLISH', 'baton:changes', KEYS[1])
        return {1, cur[1], tonumber(cur[2]), tonumber(cur[3]), ttl, ttl}
      end
    end

    """

    /// ARGV: holder, fencing token ('' for any), run id. Codes: 1 released, 2 vacant, 0 held by another.
    /// A tenure from an earlier server is void: vacant (the next acquire settles it).
    static let release = LuaScript(name: "lease_release", source: FencingLua.renewal + FencingLua.prelude + """
    if foreign(KEYS[2], ARGV[3]) then return {2} end
    local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'acquired_at', 'ttl')
    if not cur[1] then return {2} end
    local pttl = redis.call('PTTL', KEYS[1])
    if cur[1] == ARGV[1] and (ARGV[2] == '' or ARGV[2] == cur[2]) then
      redis.call('DEL', KEYS[1])
      ended(KEYS[2], KEYS[1])
      keep_meta(KEYS[2], 0, now_ms())
      return {1, cur[1], tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4]), pttl}
    end
    return {0, cur[1], tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4]), pttl}
    """)

    /// ARGV: run id. A tenure from an earlier server is void: vacant.
    static let state = LuaScript(name: "lease_state", source: FencingLua.renewal + FencingLua.prelude + """
    if foreign(KEYS[2], ARGV[1]) then return {0} end
    local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'acquired_at', 'ttl')
    if not cur[1] then return {0} end
    return {1, cur[1], tonumber(cur[2]), tonumber(cur[3]), tonumber(cur[4]), redis.call('PTTL', KEYS[1])}
    """)

    /// ARGV: run id, '1' to count renewals too. The lease's change index (see ``FencingLua``):
    /// an integer, 0 for a lease Redis knows nothing about; with renewals, plus the renewals
    /// (a number of its own: `index` alone never counts them). Writes nothing.
    static let index = LuaScript(name: "lease_index", source: FencingLua.renewal + FencingLua.prelude + """
    local i = index_of(KEYS[2], foreign(KEYS[2], ARGV[1]) or redis.call('EXISTS', KEYS[1]) == 0)
    if ARGV[2] == '1' then i = i + tonumber(redis.call('HGET', KEYS[2], 'renewals') or '0') end
    return i
    """)
}
