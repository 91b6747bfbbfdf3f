-- wrk script for run.sh: POST a ~200-byte JSON event to /echo, and at the end
-- print one machine-readable line the script turns into the table.
wrk.method = "POST"
wrk.path = "/echo"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"account.opened","stream":"account-7f3a9c2e","version":42,' ..
           '"occurred_at":"2024-05-17T09:31:12.123456Z","data":{"owner":"Ada Lovelace",' ..
           '"currency":"EUR","initial_balance":1000,"tags":["retail","web"]},"meta":{"req":"b1"}}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_us=%d p99_us=%d requests=%d errors=%d timeouts=%d non2xx=%d body=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    e.connect + e.read + e.write, e.timeout, e.status, #wrk.body))
end
