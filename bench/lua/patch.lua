-- PATCH /ngsi-ld/v1/entities/{id}/attrs on a random one of N pre-created entities.
-- Environment: BENCH_ENTITIES (count), BENCH_PREFIX (id prefix; ids are PREFIX..%06d),
-- BENCH_API_KEY (sent as X-API-Key when set).
dofile("report.lua")

local n = tonumber(os.getenv("BENCH_ENTITIES") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "urn:ngsi-ld:Sensor:kaga-"
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("BENCH_API_KEY") then headers["X-API-Key"] = os.getenv("BENCH_API_KEY") end
local counter = 0

function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  counter = counter + 1
  local id = prefix .. string.format("%06d", math.random(0, n - 1))
  local body = '{"count":{"type":"Property","value":' .. counter .. '}}'
  return wrk.format("PATCH", "/ngsi-ld/v1/entities/" .. id .. "/attrs", headers, body)
end
