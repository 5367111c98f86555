-- Mixed load for chaos/soak.sh: leases (acquire/renew own, contend on shared ones),
-- task claims each followed by its completion, reads, session validation and ops pages.
-- Every request carries X-Request-Id "<kind>-<n>"; batond echoes it, so each answer is
-- checked against what its kind may answer. Anything else is an error.
local token = os.getenv("SOAK_API_TOKEN")
local session = os.getenv("SOAK_SESSION_TOKEN")

-- kind = {weight, expected statuses}
local kinds = {
  acquire = {30, {[200] = true}},
  contend = {15, {[200] = true, [409] = true}},
  renew = {15, {[200] = true, [409] = true}},
  claim = {15, {[200] = true, [409] = true}},
  complete = {0, {[200] = true, [409] = true}},
  state = {10, {[200] = true}},
  session = {8, {[200] = true}},
  unknown = {4, {[401] = true}},
  status = {2, {[200] = true}},
  metrics = {1, {[200] = true}},
}
local order = {"acquire", "contend", "renew", "claim", "state", "session", "unknown", "status", "metrics"}
local wheel = {}
for _, k in ipairs(order) do
  for _ = 1, kinds[k][1] do wheel[#wheel + 1] = k end
end

local threads = {}
local tid_counter = 0

function setup(thread)
  tid_counter = tid_counter + 1
  thread:set("tid", tid_counter)
  table.insert(threads, thread)
end

local auth, json
local n = 0
local completes = {}
counts = {}
errors = {}
error_samples = {}

function init(args)
  auth = {["Authorization"] = "Bearer " .. token}
  json = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  for _, k in ipairs(order) do counts[k] = 0; errors[k] = 0 end
  counts.complete = 0; errors.complete = 0
end

local function req(kind, method, path, headers, body)
  n = n + 1
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  h["X-Request-Id"] = kind .. "-" .. n
  return wrk.format(method, path, h, body)
end

function request()
  local c = table.remove(completes)
  if c then
    return req("complete", "POST", "/tasks/complete", json,
      string.format('{"task":"%s","run_id":"%s","holder":"soak-%d","status":"succeeded"}', c[1], c[2], tid))
  end
  local kind = wheel[math.random(#wheel)]
  local i = math.random(32)
  if kind == "acquire" then
    return req(kind, "POST", "/leader", json, string.format('{"lease":"soak-%d-%d","holder":"soak-%d","ttl_ms":30000}', tid, i, tid))
  elseif kind == "contend" then
    return req(kind, "POST", "/leader", json, string.format('{"lease":"soak-shared-%d","holder":"soak-%d-%d","ttl_ms":2000}', i % 4, tid, i))
  elseif kind == "renew" then
    return req(kind, "POST", "/lease/renew", json, string.format('{"lease":"soak-%d-%d","holder":"soak-%d","ttl_ms":30000}', tid, i, tid))
  elseif kind == "claim" then
    return req(kind, "POST", "/tasks/claim", json,
      string.format('{"task":"soak-%d-%d","holder":"soak-%d","lock_at_most_ms":60000,"lock_at_least_ms":0}', tid, i, tid))
  elseif kind == "state" then
    return req(kind, "GET", "/leader?lease=soak-shared-" .. (i % 4), auth)
  elseif kind == "session" then
    return req(kind, "GET", "/sessions/validate", {["X-Emby-Token"] = session})
  elseif kind == "unknown" then
    return req(kind, "GET", "/sessions/validate", {["X-Emby-Token"] = string.format("%032x", math.random(1, 2^30))})
  elseif kind == "status" then
    return req(kind, "GET", "/status", auth)
  else
    return req(kind, "GET", "/metrics", {})
  end
end

function response(status, headers, body)
  local id = headers["X-Request-Id"] or headers["x-request-id"] or ""
  local kind = id:match("^(%a+)-")
  if not kind or not kinds[kind] then
    errors.complete = errors.complete + 1
    return
  end
  counts[kind] = counts[kind] + 1
  if not kinds[kind][2][status] then
    errors[kind] = errors[kind] + 1
    if #error_samples < 5 then error_samples[#error_samples + 1] = kind .. " " .. status .. " " .. body:sub(1, 160) end
  elseif kind == "claim" and status == 200 then
    local task = body:match('"task":"([^"]+)"')
    local run = body:match('"run_id":"([^"]+)"')
    if task and run then completes[#completes + 1] = {task, run} end
  end
end

function done(summary, latency, requests)
  local total, bad = {}, {}
  local samples = {}
  for _, t in ipairs(threads) do
    local c, e = t:get("counts"), t:get("errors")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
    for k, v in pairs(e) do bad[k] = (bad[k] or 0) + v end
    for _, s in ipairs(t:get("error_samples")) do samples[#samples + 1] = s end
  end
  local all, allbad = 0, 0
  local parts = {}
  for _, k in ipairs({"acquire", "contend", "renew", "claim", "complete", "state", "session", "unknown", "status", "metrics"}) do
    all = all + (total[k] or 0)
    allbad = allbad + (bad[k] or 0)
    parts[#parts + 1] = string.format("%s=%d/%d", k, total[k] or 0, bad[k] or 0)
  end
  local s = summary.errors
  local sock = s.connect + s.read + s.write + s.timeout
  io.write(string.format("soak: requests=%d answered=%d unexpected=%d socket_errors=%d (connect %d, read %d, write %d, timeout %d)\n",
    summary.requests, all, allbad, sock, s.connect, s.read, s.write, s.timeout))
  io.write("soak: per kind (answers/unexpected): " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("soak: rate=%.0f/s latency p50=%.1fms p99=%.1fms max=%.1fms\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  for _, e in ipairs(samples) do io.write("soak: unexpected: " .. e .. "\n") end
end
