-- etcd v3 JSON gateway: the renew step of a lease holder as one transaction, "if the
-- key's value is my name, put my name again under my lease, else read the key".
-- BENCH_ETCD_LEASE is a lease granted before the run; keys are set up before the run.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local lease = os.getenv("BENCH_ETCD_LEASE")
local reqs = {}
local n = 0

-- base64 without a library (LuaJIT 2.1 has the bit module).
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  local holder = b64("bench-holder")
  for i = 1, 32 do
    local key = b64(string.format("bench-%d-%d", tid, i))
    local body = string.format(
      '{"compare":[{"key":"%s","target":"VALUE","result":"EQUAL","value":"%s"}],' ..
      '"success":[{"requestPut":{"key":"%s","value":"%s","lease":"%s"}}],' ..
      '"failure":[{"requestRange":{"key":"%s"}}]}', key, holder, key, holder, lease, key)
    reqs[i] = wrk.format("POST", "/v3/kv/txn", headers, body)
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

-- The transaction must take the success branch (the holder still holds the key):
-- count answers that did not, so a broken set-up cannot pass as a fast one.
failed = 0
bench_counters = { "failed" }
function response(status, headers, body)
  if status ~= 200 or not body:find('"succeeded":true', 1, true) then failed = failed + 1 end
end
