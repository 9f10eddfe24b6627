-- GET /ngsi-ld/v1/entities/{id} on a random one of N pre-created entities.
-- Environment: BENCH_ENTITIES (count), BENCH_PREFIX (id prefix; ids are PREFIX..%06d),
-- BENCH_API_KEY (sent as X-API-Key when set).
dofile("report.lua")

local n = tonumber(os.getenv("BENCH_ENTITIES") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "urn:ngsi-ld:Sensor:kaga-"
local headers = {}
if os.getenv("BENCH_API_KEY") then headers["X-API-Key"] = os.getenv("BENCH_API_KEY") end

function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local id = prefix .. string.format("%06d", math.random(0, n - 1))
  return wrk.format("GET", "/ngsi-ld/v1/entities/" .. id, headers)
end
