// Runs every graphql-http GraphQL-over-HTTP server audit against a running server.
//
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one line per audit (status, id, name and, when not ok, the reason), then
// `graphql-http audit: N passed, M failed`. Anything other than "ok" (notice, warn, error, or an
// audit that crashed) counts as failed, and the exit code is then 1.

import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}

// LedgerQL refuses a GET that a browser could send cross-site without a CORS preflight (CSRF
// guard, SECURITY.md), so every audit request carries the header a real client sends.
const preflightedFetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('GraphQL-Require-Preflight', '1');
  return fetch(input, { ...init, headers });
};

const audits = serverAudits({ url, fetchFn: preflightedFetch });
let passed = 0;
let failed = 0;

// One at a time, in the package's order: deterministic output and no burst against the server.
for (const { id, name, fn } of audits) {
  let result;
  try {
    result = await fn();
  } catch (error) {
    // The package throws (instead of returning a result) only on fatal problems, e.g. fetch failed.
    const reason = error instanceof Error ? error.message : String(error);
    result = { id, name, status: 'error', reason: `audit crashed: ${reason}` };
  }
  if (result.status === 'ok') {
    passed += 1;
    console.log(`ok     ${result.id} ${result.name}`);
  } else {
    failed += 1;
    const http = result.response ? ` (got HTTP ${result.response.status})` : '';
    console.log(`${result.status.padEnd(6)} ${result.id} ${result.name} -- ${result.reason}${http}`);
  }
}

console.log(`graphql-http audit: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
