-- wrk script: POST /api/v1/tickets with a bearer token (env QONYRAU_TOKEN), a distinct
-- caller phone number per request, and a count of answers by status.
local token = os.getenv("QONYRAU_TOKEN")
local n = 0
statuses = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

request = function()
  n = n + 1
  local body = string.format(
    '{"type":"incident","channel":"phone","subject":"Portal login fails","description":"bench",' ..
    '"impact":"medium","urgency":"high","service_level":"basic","criticality":"level2",' ..
    '"contact":{"name":"Bench caller","phone":"+77%d%08d"}}', id, n)
  return wrk.format("POST", "/api/v1/tickets",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("latency p%s: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, count in pairs(s) do
      io.write(string.format("status %d: %d\n", code, count))
    end
  end
  io.write(string.format("tickets/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
end
