-- P2: GET /auth/me with one valid bearer token (GH_TOKEN). A static request:
-- wrk sends it without calling into Lua per request; non-2xx answers are
-- counted by wrk itself (errors.status). Also used for the nginx ceiling.
package.path = os.getenv("GH_BENCH_LUA") .. "/?.lua;" .. package.path
local stats = require("stats")

wrk.method = "GET"
wrk.path = os.getenv("GH_PATH") or "/auth/me"
local token = os.getenv("GH_TOKEN")
if token then wrk.headers["Authorization"] = "Bearer " .. token end

setup = stats.setup
done = stats.done
