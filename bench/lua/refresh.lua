-- P4: POST /auth/refresh, every connection rotating its own session's token.
-- wrk does not say which connection an answer belongs to, so each thread
-- keeps a pool of live tokens: a request takes one, its answer puts the
-- successor back. With one request in flight per connection the pool never
-- runs dry unless a rotation fails (then a dead token is sent and counted).
-- GH_TOKENS_FILE holds one refresh token per line; thread i takes lines
-- i, i + GH_THREADS, ...
package.path = os.getenv("GH_BENCH_LUA") .. "/?.lua;" .. package.path
local stats = require("stats")

local pool = {}

setup = stats.setup
done = stats.done

function init(args)
  local threads_total = tonumber(os.getenv("GH_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("GH_TOKENS_FILE")) do
    if i % threads_total == (id or 0) then table.insert(pool, line) end
    i = i + 1
  end
end

-- wrk calls request() once on thread 0's state before the run, only to check
-- the request parses; that call must not spend a live token.
local verified = false

function request()
  if id == 0 and not verified then
    verified = true
    return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"x"}')
  end
  local token = table.remove(pool) or "exhausted"
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  stats.count(status, headers)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then table.insert(pool, token) end
end
