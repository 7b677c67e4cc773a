#!/usr/bin/env bash
# Runs the graphql-http GraphQL-over-HTTP server audit against a throwaway LedgerQL server.
#
# Installs the pinned audit suite (npm ci) if needed, starts `.venv/bin/ledgerql serve` on a free
# port with APP_ENV=test and a fresh SQLite file in a temporary directory, waits for /health/live,
# runs scripts/graphql-http-audit/audit.mjs, stops the server and exits with the audit's code.
# Works from any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

AUDIT_DIR="scripts/graphql-http-audit"
PYTHON=".venv/bin/python"
LEDGERQL=".venv/bin/ledgerql"
STARTUP_TIMEOUT_SECONDS="${STARTUP_TIMEOUT_SECONDS:-60}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "graphql-http-audit: '$tool' is not installed" >&2
    exit 2
  fi
done
if [[ ! -x "$LEDGERQL" ]]; then
  echo "graphql-http-audit: $LEDGERQL not found; create the virtualenv first" >&2
  exit 2
fi

if [[ ! -d "$AUDIT_DIR/node_modules" ]]; then
  npm ci --prefix "$AUDIT_DIR" --no-audit --no-fund
fi

TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ledgerql-graphql-http-audit.XXXXXX")"
SERVER_PID=""

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  rm -rf "$TMP_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
BASE_URL="http://127.0.0.1:${PORT}"
SERVER_LOG="$TMP_DIR/server.log"

APP_ENV=test \
  DATABASE_URL="sqlite+aiosqlite:///$TMP_DIR/ledgerql.db" \
  DEV_SECRET_FILE="$TMP_DIR/dev-jwt-secret" \
  "$LEDGERQL" serve --host 127.0.0.1 --port "$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + STARTUP_TIMEOUT_SECONDS))
until curl --silent --fail --max-time 2 --output /dev/null "$BASE_URL/health/live"; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "graphql-http-audit: the server exited during start-up; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "graphql-http-audit: the server was not live after ${STARTUP_TIMEOUT_SECONDS}s; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
  fi
  sleep 0.2
done

status=0
node "$AUDIT_DIR/audit.mjs" "$BASE_URL/graphql" || status=$?

cleanup
trap - EXIT
exit "$status"
