/// The task-claim scripts (ShedLock semantics). Keys of one task share the hash tag `{task}`:
/// - `baton:task:{T}:claim`        hash run_id, holder, slot, token, claimed_at, at_most, at_least, state;
///                                 expires at lock_at_most (running) or lock_at_least (completed)
/// - `baton:task:{T}:meta`         hash token (fencing counter), epoch (server run id),
///                                 recover_until — expires a grace period after the claim and
///                                 any recovery window (see ``FencingLua``)
/// - `baton:task:{T}:slot:<slot>`  the run id that completed the slot; outlives the claim
///
/// Every script answers `{code, run_id, holder, slot, token, claimed_at, at_most, at_least, state, pttl}`
/// (only `{code}` when there is no claim to show). KEYS[2] is always the meta hash and the
/// last ARGV the run id of the server Baton is talking to (see ``FencingLua``): a running
/// claim written by an earlier server is void; a completed one still keeps its task from
/// running again too soon. A call that grants nothing (a refused claim, a lost extend, a
/// late completion) writes nothing.
enum TaskScripts {
    /// Shared prologue: the current claim as a reply tail.
    private static let current = """
    local function current()
      local c = redis.call('HMGET', KEYS[1], 'run_id', 'holder', 'slot', 'token', 'claimed_at', 'at_most', 'at_least', 'state')
      if not c[1] then return nil end
      return {c[1], c[2], c[3], tonumber(c[4]), tonumber(c[5]), tonumber(c[6]), tonumber(c[7]), c[8], redis.call('PTTL', KEYS[1])}
    end
    local function answer(code, c)
      if not c then return {code} end
      return {code, c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]}
    end
    local function void_if_running()
      if redis.call('HGET', KEYS[1], 'state') == 'running' then redis.call('DEL', KEYS[1]) end
    end
    -- The claim as seen by read-only scripts: a running claim from another server is void.
    local function visible(epoch)
      local c = current()
      if c and c[8] == 'running' and foreign(KEYS[2], epoch) then return nil end
      return c
    end

    """

    /// codes: 1 claimed, 2 held, 3 recently completed, 4 slot done, 5 recovering (`{5, retry_ms}`).
    /// ARGV: holder, run_id, at_most, at_least, fencing floor, slot ('' for none), recovery window,
    /// carried window, run id. KEYS[3]: the slot key (with a slot).
    static let claim = LuaScript(name: "task_claim", source: FencingLua.renewal + FencingLua.prelude + current + """
    local now = now_ms()
    -- Refusals first, from what is there (a running claim of an earlier server is void),
    -- so that a refused claim writes nothing.
    local c = visible(ARGV[9])
    local refused = nil
    if ARGV[6] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then refused = 4
    elseif c then refused = (c[8] == 'completed') and 3 or 2 end
    if refused then
      note_windows(KEYS[2], ARGV[9], tonumber(ARGV[7]), tonumber(ARGV[8]), now)
      return answer(refused, c)
    end
    if settle(KEYS[2], ARGV[9], tonumber(ARGV[5]), tonumber(ARGV[7]), tonumber(ARGV[8]), now) then void_if_running() end
    local tok, wait = next_token(KEYS[2], tonumber(ARGV[5]), tonumber(ARGV[7]), now)
    if not tok then
      keep_meta(KEYS[2], 0, now)
      return {5, wait}
    end
    redis.call('HSET', KEYS[1], 'run_id', ARGV[2], 'holder', ARGV[1], 'slot', ARGV[6], 'token', tok,
               'claimed_at', now, 'at_most', ARGV[3], 'at_least', ARGV[4], 'state', 'running')
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    began(KEYS[2], KEYS[1])
    keep_meta(KEYS[2], tonumber(ARGV[3]), now)
    -- The claim just written, as `current()` would read it back.
    return {1, ARGV[2], ARGV[1], ARGV[6], tok, now, tonumber(ARGV[3]), tonumber(ARGV[4]), 'running', tonumber(ARGV[3])}
    """)

    /// codes: 1 extended, 0 lost. ARGV: run_id, holder, at_most, fencing floor, recovery window,
    /// carried window, run id.
    static let extend = LuaScript(name: "task_extend", source: FencingLua.renewal + FencingLua.prelude + current + """
    local c = visible(ARGV[7])
    if c and c[1] == ARGV[1] and c[2] == ARGV[2] and c[8] == 'running' then
      local now = now_ms()
      hold_off(KEYS[2], now, tonumber(ARGV[6]))
      redis.call('HSET', KEYS[1], 'at_most', ARGV[3])
      redis.call('PEXPIRE', KEYS[1], ARGV[3])
      keep_meta(KEYS[2], tonumber(ARGV[3]), now)
      c[6] = tonumber(ARGV[3])
      c[9] = tonumber(ARGV[3])
      return answer(1, c)
    end
    note_windows(KEYS[2], ARGV[7], tonumber(ARGV[5]), tonumber(ARGV[6]), now_ms())
    return answer(0, c)
    """)

    /// codes: 1 completed, 0 late. ARGV: run_id, holder, status, slot-marker ttl ms, run id.
    /// The slot key is built here from the claim's own slot; it carries the same hash
    /// tag as KEYS[1], so it lives in the same cluster slot.
    static let complete = LuaScript(name: "task_complete", source: FencingLua.renewal + FencingLua.prelude + current + """
    local c = visible(ARGV[5])
    if not (c and c[1] == ARGV[1] and c[2] == ARGV[2] and c[8] == 'running') then
      -- Late: nothing is written (the run goes to history only), but watchers hear of it
      -- (a late_completion event) through the channel; the index does not move.
      redis.call('PUBLISH', 'baton:changes', 'late|' .. KEYS[1] .. '|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3])
      return answer(0, c)
    end
    if ARGV[3] ~= 'cancelled' and c[3] ~= '' then
      redis.call('SET', string.sub(KEYS[1], 1, -6) .. 'slot:' .. c[3], ARGV[1], 'PX', ARGV[4])
    end
    local now = now_ms()
    local keep = c[5] + c[7] - now
    if keep > 0 then
      redis.call('HSET', KEYS[1], 'state', 'completed')
      redis.call('PEXPIRE', KEYS[1], keep)
      changed(KEYS[2], KEYS[1])
      keep_meta(KEYS[2], keep, now)
      c[8] = 'completed'
      c[9] = keep
      return answer(1, c)
    end
    redis.call('DEL', KEYS[1])
    ended(KEYS[2], KEYS[1])
    keep_meta(KEYS[2], 0, now)
    c[8] = 'completed'
    c[9] = 0
    return answer(1, c)
    """)

    /// ARGV: run id.
    static let state = LuaScript(name: "task_state", source: FencingLua.renewal + FencingLua.prelude + current + """
    return answer(1, visible(ARGV[1]))
    """)

    /// ARGV: run id. The task's change index (see ``FencingLua``): an integer, 0 for a task
    /// Redis knows nothing about. A running claim of another server is void, so gone.
    /// Writes nothing.
    static let index = LuaScript(name: "task_index", source: FencingLua.renewal + FencingLua.prelude + current + """
    return index_of(KEYS[2], visible(ARGV[1]) == nil)
    """)
}
