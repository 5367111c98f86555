-- The run-once claim a user writes by hand instead of calling Baton: ShedLock's Redis
-- provider (net.javacrumbs.shedlock.provider.redis) locks with `SET key value NX PX
-- lockAtMost` and unlocks by deleting the key; the minimal *safe* version compares the
-- value first so a late completion cannot delete someone else's claim (GET, compare, DEL).
--   claim:    SET key run_id NX PX lock_at_most
--   complete: GET key, compare with my run_id, DEL
-- None of Baton's extras: no server run id check, no fencing token, no claim history
-- (Baton also writes every claim and completion to PostgreSQL), no lock_at_least.
-- redis-benchmark cannot chain one reply into the next command, so, like the
-- task-step baseline of extract.py, each call is one step: it completes the claim when
-- the key holds my run id, else claims. The GET costs the claim side one extra read.
-- KEYS: claim key. ARGV: run id, lock_at_most ms.
-- Answers 2 completed, 1 claimed, 0 held by another.
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 2
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return 1
