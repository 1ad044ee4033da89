-- P1 (and P3's storm): POST /auth/login with valid credentials, each request
-- for the next of GH_USERS seeded users (bench<N>@bench.test), each user from
-- its own client address through the trusted proxy header, as real traffic
-- comes from many addresses. GH_DELAY_MS > 0 paces every connection (P3).
package.path = os.getenv("GH_BENCH_LUA") .. "/?.lua;" .. package.path
local stats = require("stats")

local users = tonumber(os.getenv("GH_USERS"))
local password = os.getenv("GH_PASSWORD")
local pause = tonumber(os.getenv("GH_DELAY_MS") or "0")
local threads_total = tonumber(os.getenv("GH_THREADS") or "1")
local next_user

setup = stats.setup
done = stats.done

function init(args)
  -- Threads start at different users and stride by the thread count.
  next_user = (id or 0) + tonumber(os.getenv("GH_USER_OFFSET") or "0")
  math.randomseed(os.time() + (id or 0))
  next_user = next_user + threads_total * math.random(0, math.floor(users / threads_total))
end

function request()
  local n = next_user % users
  next_user = next_user + threads_total
  local body = string.format('{"email":"bench%d@bench.test","password":"%s"}', n, password)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256),
  }
  return wrk.format("POST", "/auth/login", headers, body)
end

function response(status, headers, body)
  stats.count(status, headers)
end

if pause > 0 then
  function delay() return pause end
end
