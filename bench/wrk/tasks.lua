-- POST /tasks/claim then POST /tasks/complete of the run it started, over and over.
-- wrk's Lua has no notion of which connection a response belongs to, so each thread
-- keeps a pool of task names: a claim takes a free name, its answer queues the run for
-- completion, the next request completes it, and the completion's answer frees the name.
-- Names are distinct per run and thread (bench-task-<run>-<thread>-<n>): a claim left
-- running when a run ends (wrk stops mid-request) cannot block the next run's claims.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local token = os.getenv("BENCH_API_TOKEN")
local run = os.getenv("BENCH_RUN_ID") or "0"
local headers
local free = {}     -- task names nobody is working on
local ready = {}    -- {task, run_id} claimed and waiting to be completed
claims, completes, refused = 0, 0, 0
bench_counters = { "claims", "completes", "refused" }

function init(args)
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  for i = 1, 256 do free[#free + 1] = string.format("bench-task-%s-%d-%d", run, tid, i) end
end

function request()
  local job = table.remove(ready)
  if job then
    completes = completes + 1
    return wrk.format("POST", "/tasks/complete", headers, string.format(
      '{"task":"%s","run_id":"%s","holder":"bench-holder","status":"succeeded"}', job[1], job[2]))
  end
  local task = table.remove(free, 1)
  if not task then
    error("tasks.lua: no free task name (more connections than the pool allows)")
  end
  claims = claims + 1
  return wrk.format("POST", "/tasks/claim", headers, string.format(
    '{"task":"%s","holder":"bench-holder"}', task))
end

function response(status, headers, body)
  local task = body:match('"task":"([^"]+)"')
  if not task then return end
  if body:find('"recorded":', 1, true) then
    free[#free + 1] = task              -- a completion: the name is free again
  elseif status == 200 then
    ready[#ready + 1] = { task, body:match('"run_id":"([^"]+)"') }
  else
    refused = refused + 1               -- a refused claim (should not happen)
    free[#free + 1] = task
  end
end
