-- Shared by every wrk script of the benchmark: numbers each thread, and prints one
-- machine-readable result line when the run is over, with the sum over threads of the
-- counters a script lists in bench_counters (globals of the thread's Lua state).
bench_counters = {}
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local e = summary.errors
  local extra = ""
  for _, name in ipairs(bench_counters) do
    local total = 0
    for _, t in ipairs(threads) do total = total + (t:get(name) or 0) end
    extra = extra .. string.format(" %s=%d", name, total)
  end
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d non2xx=%d%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, extra))
end
