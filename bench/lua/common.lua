-- Shared by the wrk scripts: per-thread counters of 2xx, 409 and other answers, and a
-- done() that prints one JSON line the harness parses.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- BENCH_BBOX (lat0,lat1,lon0,lon1): where the random points of a run fall.
local bbox = {}
for v in string.gmatch(os.getenv("BENCH_BBOX") or "31,32,121,122", "[^,]+") do
  table.insert(bbox, tonumber(v))
end

-- A random point of BENCH_BBOX: latitude, longitude.
function random_point()
  return bbox[1] + (bbox[2] - bbox[1]) * math.random(),
    bbox[3] + (bbox[4] - bbox[3]) * math.random()
end

function bench_init()
  math.randomseed(os.time() * 1000 + tid * 7919)
  ok, conflicts, others, sent = 0, 0, 0, 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 409 then
    conflicts = conflicts + 1
  else
    others = others + 1
    if others <= 3 then
      io.stderr:write("HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local total_ok, total_409, total_other = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_409 = total_409 + thread:get("conflicts")
    total_other = total_other + thread:get("others")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "requests": %d, "ok": %d, "conflicts": %d, ' ..
    '"other_status": %d, "socket_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.duration, summary.requests, total_ok, total_409, total_other,
    e.connect + e.read + e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
