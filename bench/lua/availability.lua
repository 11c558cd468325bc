-- GET /api/v1/availability: BENCH_BASKET random SKUs of SKU-00001..BENCH_SKUS, near a
-- random point of BENCH_BBOX; BENCH_RADIUS_KM (optional) limits the distance.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local token = os.getenv("BENCH_TOKEN")
local skus = tonumber(os.getenv("BENCH_SKUS") or "1")
local basket = tonumber(os.getenv("BENCH_BASKET") or "1")
local radius = os.getenv("BENCH_RADIUS_KM") or ""

function init(args)
  bench_init()
end

function request()
  sent = sent + 1
  local chosen, parts = {}, {}
  while #parts < math.min(basket, skus) do
    local n = math.random(1, skus)
    if not chosen[n] then
      chosen[n] = true
      table.insert(parts, string.format("sku=SKU-%05d", n))
    end
  end
  local lat, lon = random_point()
  local path = string.format("/api/v1/availability?%s&near=%.4f,%.4f", table.concat(parts, "&"), lat, lon)
  if radius ~= "" then
    path = path .. "&radius_km=" .. radius
  end
  return wrk.format("GET", path, {["Authorization"] = "Token " .. token})
end
