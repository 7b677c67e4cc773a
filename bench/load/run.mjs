// One load run with autocannon, checked response by response; prints one JSON summary line.
//
// Usage: node run.mjs '<spec as JSON>'
//   spec: { url, connections, duration (s), rate (optional: overall requests/s, paced),
//           requests: [{ method, headers, body }]  (each connection cycles through them),
//           idReplacement (optional: every "[<id>]" in a body becomes a unique id) }
//
// A response counts as a success only with HTTP 200, a `data` object and no GraphQL error
// anywhere (top level or in a mutation payload's `errors`); redirects, error bodies, timeouts
// and socket errors do not. Latency percentiles come from every response's own time, so p95 is
// exact (autocannon's own summary has no p95). Written around autocannon because its summary
// lacks per-response checks beyond one fixed body.

import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);

const SUCCESS = (body) =>
  body.startsWith('{"data":{') && !body.includes('"errors":[{') && !body.includes('"errors": [{');

const latencies = [];
let failedExample = null;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

const instance = autocannon(
  {
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    overallRate: spec.rate || undefined,
    requests: spec.requests,
    idReplacement: Boolean(spec.idReplacement),
    timeout: 30,
    verifyBody: (body) => {
      const ok = SUCCESS(body);
      if (!ok && failedExample === null) failedExample = body.slice(0, 300);
      return ok;
    },
  },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    latencies.sort((a, b) => a - b);
    const failures = result.non2xx + result.mismatches + result.errors + result.timeouts;
    const ok = Math.max(0, result.requests.total - result.non2xx - result.mismatches);
    const seconds = result.duration;
    console.log(
      JSON.stringify({
        requests: result.requests.total,
        ok,
        failures,
        non2xx: result.non2xx,
        mismatches: result.mismatches,
        socketErrors: result.errors,
        timeouts: result.timeouts,
        seconds,
        rps: ok / seconds,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies.length ? latencies[latencies.length - 1] : null,
        failedExample,
      }),
    );
  },
);

instance.on('response', (_client, _status, _bytes, responseTime) => {
  latencies.push(responseTime);
});
