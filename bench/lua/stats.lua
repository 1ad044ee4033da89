-- Shared by the bench scripts: counts answers by status in every wrk thread
-- and prints one JSON line at the end, which bench/run.py reads. Statuses 429
-- and 503 without a Retry-After header are counted apart (the overload
-- contract of the brief's PERFORMANCE.md P3).
local stats = {}
local threads = {}

function stats.setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- In each thread's own Lua state.
counts = {}
no_retry_after = 0

function stats.count(status, headers)
  counts[status] = (counts[status] or 0) + 1
  if (status == 429 or status == 503) and headers["Retry-After"] == nil and headers["retry-after"] == nil then
    no_retry_after = no_retry_after + 1
  end
end

function stats.done(summary, latency, requests)
  local by_status, missing = {}, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts") or {}) do
      by_status[tostring(status)] = (by_status[tostring(status)] or 0) + n
    end
    missing = missing + (t:get("no_retry_after") or 0)
  end
  local parts = {}
  for status, n in pairs(by_status) do table.insert(parts, string.format('"%s": %d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"by_status": {%s}, "no_retry_after": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", "), missing))
end

return stats
