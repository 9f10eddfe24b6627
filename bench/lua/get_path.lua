-- GET one path (BENCH_PATH), optionally with If-None-Match (BENCH_ETAG).
dofile("report.lua")

local path = os.getenv("BENCH_PATH") or "/"
local etag = os.getenv("BENCH_ETAG") or ""

function request()
  local headers = {}
  if etag ~= "" then headers["If-None-Match"] = etag end
  return wrk.format("GET", path, headers)
end
