-- wrk script for `make bench`: PUT the update route, each request a real change (a new amount) to one of
-- 1,000 opportunities, so every durable request appends one event.
-- BENCH_PORTS="P1,P2": several instances of the service, thread i sends to port i (round robin over the
-- threads), so one wrk process loads them all and merges their latencies in one histogram.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  local ports = os.getenv("BENCH_PORTS")
  if ports and ports ~= "" then
    local list = {}
    for port in string.gmatch(ports, "%d+") do table.insert(list, port) end
    thread.addr = wrk.lookup("127.0.0.1", list[(thread_id % #list) + 1])[1]
  end
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Internal-Secret"] = os.getenv("BENCH_SECRET")
end

function request()
  counter = counter + 1
  local n = counter * 16 + id
  local code = string.format("BENCH-%04d", n % 1000)
  local body = string.format('{"opportunityCode":"%s","amount":%d,"stage":"negotiation"}', code, 1000 + n)
  return wrk.format(nil, "/api/opportunities/integration/update", nil, body)
end
