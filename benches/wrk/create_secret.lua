-- POST /api/secrets with a name no other request uses (per wrk thread and counter), for
-- scripts/bench.sh's creates/s.
local counter = 0
local thread_id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  thread_id = id
end

-- wrk.format's headers replace the command line's (-H Authorization): start from those.
local function headers()
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h["Content-Type"] = "application/json"
  return h
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"BENCH_%d_%d","value":"v"}', thread_id, counter)
  return wrk.format("POST", "/api/secrets", headers(), body)
end
