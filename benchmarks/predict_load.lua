-- wrk script for benchmarks.bench_serve: POSTs predict bodies, then prints the figures as one JSON line.
--   wrk -t1 -c32 -d10s -s benchmarks/predict_load.lua URL -- BODIES_FILE
-- BODIES_FILE holds one JSON body per line (real digits, {"instances": [<28x28>]}); connections take
-- them in turn. Requests are formatted once in init, so the load generator spends its CPU on sending.

local prepared = {}
local next_index = 1

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the bodies file " .. tostring(args[1]))
  for body in file:lines() do
    if #body > 0 then
      prepared[#prepared + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
    end
  end
  file:close()
  assert(#prepared > 0, "the bodies file holds no body")
end

function request()
  local chosen = prepared[next_index]
  next_index = next_index % #prepared + 1
  return chosen
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout
  ))
end
