// An open-loop load run: requests fired on a fixed schedule over many open keep-alive
// connections, whatever the number of responses still outstanding; prints one JSON summary line.
//
// Usage: node openloop.mjs < spec.json   (or the spec as the one argument)
//   spec: { url, connections, rate (requests/s offered), duration (s),
//           requests: [{ method, path, headers, body }]  (fired in turn, cycling),
//           idReplacement (optional: every "[<id>]" in a body becomes a unique id),
//           warmPath (optional, default /health/live: `connections` concurrent GETs open the
//           sockets before the schedule starts) }
//
// autocannon cannot do this: with a rate below its connection count it lowers the connection
// count to the rate, and each connection waits for its previous response (closed loop). Here a
// node:http Agent keeps up to `connections` sockets open, handing out the least recently used
// one (`fifo`), so the load spreads over every socket; each request's latency is counted from
// the moment it was due (no coordinated omission). A success is the same as in run.mjs:
// HTTP 200, a `data` object and no GraphQL error anywhere.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const spec = JSON.parse(process.argv[2] ?? readFileSync(0, 'utf8'));
const target = new URL(spec.url);
const TIMEOUT_MS = 30_000;
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: spec.connections,
  maxFreeSockets: spec.connections,
  scheduling: 'fifo',
});

const SUCCESS = (body) =>
  body.startsWith('{"data":{') && !body.includes('"errors":[{') && !body.includes('"errors": [{');

function request(method, path, headers, body) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, method, path, headers, agent },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
        res.on('error', (error) => resolve({ error: String(error) }));
      },
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error: String(error) }));
    if (body) req.write(body);
    req.end();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

const warmPath = spec.warmPath || '/health/live';
await Promise.all(
  Array.from({ length: spec.connections }, () => request('GET', warmPath, {}, null)),
);
const opened = Object.values(agent.freeSockets).reduce((n, list) => n + list.length, 0);

const latencies = [];
let ok = 0;
let failures = 0;
let timeouts = 0;
let socketErrors = 0;
let failedExample = null;
let outstanding = 0;
let maxOutstanding = 0;
const pending = [];

function fire(index, due) {
  const template = spec.requests[index % spec.requests.length];
  let body = template.body || null;
  if (body && spec.idReplacement) body = body.replaceAll('[<id>]', randomUUID());
  const headers = { ...(template.headers || {}) };
  if (body) headers['content-length'] = Buffer.byteLength(body);
  outstanding += 1;
  maxOutstanding = Math.max(maxOutstanding, outstanding);
  pending.push(
    request(template.method || 'POST', template.path || '/graphql', headers, body).then((answer) => {
      outstanding -= 1;
      latencies.push(performance.now() - due);
      if (answer.status === 200 && SUCCESS(answer.body)) {
        ok += 1;
        return;
      }
      failures += 1;
      if (answer.error === 'Error: timeout') timeouts += 1;
      else if (answer.error) socketErrors += 1;
      if (failedExample === null) failedExample = (answer.error || `${answer.status} ${answer.body}`).slice(0, 300);
    }),
  );
}

const started = performance.now();
const total = Math.floor(spec.rate * spec.duration);
let sent = 0;
await new Promise((done) => {
  const timer = setInterval(() => {
    const elapsed = performance.now() - started;
    const due = Math.min(total, Math.floor((spec.rate * elapsed) / 1000) + 1);
    while (sent < due) {
      fire(sent, started + (sent * 1000) / spec.rate);
      sent += 1;
    }
    if (sent >= total) {
      clearInterval(timer);
      done();
    }
  }, 2);
});
await Promise.all(pending);
const seconds = (performance.now() - started) / 1000;
agent.destroy();
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    mode: 'open-loop',
    opened,
    offered: sent,
    offeredRate: spec.rate,
    requests: sent,
    ok,
    failures,
    timeouts,
    socketErrors,
    maxOutstanding,
    seconds,
    rps: ok / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies.length ? latencies[latencies.length - 1] : null,
    failedExample,
  }),
);
