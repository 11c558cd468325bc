-- POST /api/v1/checkout with a fresh Idempotency-Key per request.
-- BENCH_MODE=ship: BENCH_LINES distinct random SKUs of SKU-00001..BENCH_SKUS, shipped to a
-- random point of BENCH_BBOX (lat0,lat1,lon0,lon1).
-- BENCH_MODE=pickup: 1 unit of BENCH_SKU picked up at BENCH_LOCATION (the hot SKU); with
-- BENCH_PICKUP_SKUS=N, of a random one of SKU-00001..N instead (the same orders, spread).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN")
local mode = os.getenv("BENCH_MODE") or "ship"
local skus = tonumber(os.getenv("BENCH_SKUS") or "1")
local lines = tonumber(os.getenv("BENCH_LINES") or "3")
local hot_sku = os.getenv("BENCH_SKU") or "SKU-00001"
local location = os.getenv("BENCH_LOCATION") or ""
local pickup_skus = tonumber(os.getenv("BENCH_PICKUP_SKUS") or "0")

function init(args)
  bench_init()
end

local function body()
  local customer = string.format(
    '{"email": "c%d@bench.example.com", "name": "Bench customer"}', math.random(1, 1000))
  if mode == "pickup" then
    local sku = hot_sku
    if pickup_skus > 0 then
      sku = string.format("SKU-%05d", math.random(1, pickup_skus))
    end
    return string.format(
      '{"customer": %s, "channel": "web", "lines": [{"sku": "%s", "quantity": 1}], ' ..
      '"delivery": {"method": "pickup", "location": "%s"}}', customer, sku, location)
  end
  local chosen, parts = {}, {}
  while #parts < math.min(lines, skus) do
    local n = math.random(1, skus)
    if not chosen[n] then
      chosen[n] = true
      table.insert(parts, string.format('{"sku": "SKU-%05d", "quantity": 1}', n))
    end
  end
  local lat, lon = random_point()
  return string.format(
    '{"customer": %s, "channel": "web", "lines": [%s], "delivery": {"method": "ship", ' ..
    '"address": {"line1": "1 Bench Road", "city": "Shanghai", "country": "CN", ' ..
    '"latitude": %.5f, "longitude": %.5f}}}',
    customer, table.concat(parts, ", "), lat, lon)
end

function request()
  sent = sent + 1
  local headers = {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, tid, sent),
  }
  return wrk.format("POST", "/api/v1/checkout", headers, body())
end
