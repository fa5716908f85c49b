-- wrk script for tools/load_test.sh: POST a prepared multipart body with an API key.
-- Environment: BODY_FILE (the body), BOUNDARY (its multipart boundary), API_KEY.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. os.getenv("BOUNDARY")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")

local statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("throughput %.2f req/s; p50 %.1f ms; p90 %.1f ms; p99 %.1f ms; errors %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
