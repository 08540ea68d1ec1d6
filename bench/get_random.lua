-- GET /v1/tasks/{id} over many distinct ids (one per line in $IDS_FILE), so single-flight
-- cannot merge the reads.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do
  if #line > 0 then ids[#ids + 1] = line end
end
local auth = "Bearer " .. os.getenv("AUTH")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/tasks/" .. ids[math.random(#ids)], { ["Authorization"] = auth })
end
