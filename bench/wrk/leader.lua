-- POST /leader by a holder that already leads: the renew path of the acquire script.
-- Each thread cycles over its own 32 lease names with one holder, so after the first
-- round every request renews. Requests are formatted once, in init().
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local token = os.getenv("BENCH_API_TOKEN")
local reqs = {}
local n = 0

function init(args)
  local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  for i = 1, 32 do
    local body = string.format('{"lease":"bench-%d-%d","holder":"bench-holder","ttl_ms":30000}', tid, i)
    reqs[i] = wrk.format("POST", "/leader", headers, body)
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end
