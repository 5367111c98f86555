-- The lease a user writes by hand instead of calling Baton (issue 17's "second baseline"):
-- the smallest script that is still a correct lock with a fencing token, i.e. what the
-- Redis documentation's "distributed lock" pattern plus a counter amounts to.
--   renew:   GET, compare with my name, PEXPIRE            (the path the benchmark measures)
--   acquire: SET NX PX, INCR a counter for the fencing token
-- It has none of what Baton adds: no server run id check (a failover can hand the lease
-- to two holders), no recovery window, no fencing floor, no tenure metadata (acquired_at,
-- previous holder), no TIME call, and the renew path does not even return the token.
-- That is the point: it is the floor a hand-rolled lease costs on Redis.
-- KEYS: lease key, counter key (same hash tag). ARGV: holder, ttl ms.
-- Answers {2} renewed, {1, token} acquired, {0, holder} held by another.
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {2}
end
if cur then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {1, redis.call('INCR', KEYS[2])}
