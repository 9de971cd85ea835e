-- wrk script: POSTs the seed's CDR push (tests/data/api/push_call_log.json) with a new call-log
-- id on every request, and counts the answers by class. One line "RESULT k=v ..." at the end.
--   wrk -s bench/webhook.lua URL -- BODY_FILE RUN_TAG
-- RUN_TAG (hex, up to 8 digits) keeps ids unique across runs against the same exporter.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  -- A call that just ended, so no "history" rule can apply to it.
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  body = body:gsub('"callStart" : "[^"]*"', '"callStart" : "' .. now .. '"')
  local first, last = body:find("741f1e6a-8fb1-441e-9e0c-e57c68246d5d", 1, true)
  prefix, suffix = body:sub(1, first - 1), body:sub(last + 1)
  run = tonumber(args[2] or "0", 16)
  sent, ok, refused = 0, 0, 0
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  sent = sent + 1
  local id = string.format("%08x-%04x-4000-8000-%012x", run, tid, sent)
  return wrk.format("POST", nil, headers, prefix .. id .. suffix)
end

function response(status)
  if status >= 200 and status < 300 then ok = ok + 1 else refused = refused + 1 end
end

function done(summary, latency)
  local total_sent, total_ok, total_refused = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_ok = total_ok + thread:get("ok")
    total_refused = total_refused + thread:get("refused")
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f sent=%d ok=%d refused=%d completed=%d " ..
    "socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, total_sent, total_ok, total_refused, summary.requests,
    errors.connect + errors.read + errors.write + errors.timeout))
end
