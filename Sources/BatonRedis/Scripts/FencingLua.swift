/// Lua shared by the lease and task scripts: the clock, and the next fencing token with
/// the amnesia guard. Kept in one place so both kinds of resource follow one rule.
enum FencingLua {
    static let prelude = """
    local function now_ms()
      local t = redis.call('TIME')
      return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    -- The next fencing token from the meta hash, or nil and the time to wait when Redis
    -- lost this resource's data. A token at or below the floor (the highest one Baton
    -- knows was handed out) means the counter went backwards: it is raised to the floor
    -- and, while an earlier grant may still be believed valid (the window), nothing new
    -- is granted. `recover_until` lives in Redis so every Baton replica honours it.
    local function next_token(meta, floor, window, now)
      local until_ms = tonumber(redis.call('HGET', meta, 'recover_until') or '0')
      if now < until_ms then return nil, until_ms - now end
      local tok = redis.call('HINCRBY', meta, 'token', 1)
      if tok <= floor then
        redis.call('HSET', meta, 'token', floor)
        if window > 0 then
          redis.call('HSET', meta, 'recover_until', now + window)
          return nil, window
        end
        tok = redis.call('HINCRBY', meta, 'token', 1)
      end
      return tok, 0
    end

    """
}
