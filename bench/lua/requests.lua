-- POSTs the requests of the file named by BENCH_REQUESTS in turn and counts bad answers.
-- Each line of that file is "<Authorization header or ->\t<JSON body>"; a response is bad
-- when its status is not 200, when it holds "errors", or when it lacks BENCH_EXPECT.
-- done() prints one line "BENCH_RESULT {...}" with the figures the benchmark reads.

local path = os.getenv("BENCH_REQUESTS")
local expect = os.getenv("BENCH_EXPECT") or '{"data":'
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  for line in io.lines(path) do
    local tab = string.find(line, "\t", 1, true)
    local auth = string.sub(line, 1, tab - 1)
    local headers = { ["Content-Type"] = "application/json" }
    if auth ~= "-" then
      headers["Authorization"] = auth
    end
    table.insert(requests, wrk.format("POST", nil, headers, string.sub(line, tab + 1)))
  end
  index = 0
  bad = 0
  first_bad = ""
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true)
      or not string.find(body, expect, 1, true) then
    bad = bad + 1
    if first_bad == "" then
      -- Kept JSON-safe: no quotes, backslashes or control characters.
      first_bad = string.gsub(status .. " " .. string.sub(body, 1, 300), '[%c"\\]', " ")
    end
  end
end

function done(summary, latency, requests)
  local bad_total, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    local first = thread:get("first_bad")
    if sample == "" and first ~= nil then
      sample = first
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"socket_errors":%d,"timeouts":%d,"bad_responses":%d,"bad_sample":"%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write, e.timeout, bad_total,
    sample))
end
