-- Prints wrk's exact totals as one JSON line, instead of its rounded text.

-- Every contender listens on 127.0.0.1. wrk takes the TLS SNI (and its
-- default Host) from the URL's host and offers no option to set SNI, so the
-- runner puts the name in the URL (https://bench.local:PORT/) and this
-- resolves any name to loopback: no /etc/hosts entry needed.
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", service)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
