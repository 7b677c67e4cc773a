// The live audit feed (auditEvents over graphql-transport-ws) with filters, and chain verification.
import { html, useEffect, useState } from "../lib.js";
import { createClient } from "../../vendor/graphql-ws/client.js";
import { NETWORK_ERROR } from "../api.js";
import { call } from "../session.js";
import { timestamp } from "../time.js";
import { Select } from "../components/select.js";
import { ErrorNotice } from "../components/notice.js";

const MAX_EVENTS = 200;
const RETRY_ATTEMPTS = 3;
/** Reconnect after 0.5 s, 1 s, 2 s; then the feed stops and offers a Reconnect button. */
const RETRY_BASE_MS = 500;
/** Closes that a retry cannot mend: the session is gone, or the server refused a message. */
const FINAL_CLOSE_CODES = new Set([4403, 4400, 1009]);
const ACTIONS = [
  "CREATE", "READ", "UPDATE", "DELETE", "LOGIN", "LOGIN_FAILED", "ACCOUNT_LOCKED", "LOGOUT",
  "TOKEN_REFRESH", "TOKEN_REUSE", "TOKEN_REJECTED", "PASSWORD_CHANGE", "PERMISSION_CHANGE",
  "ACCESS_DENIED",
];
const EVENTS = `subscription AuditFeed($filter: AuditLogFilter) {
  auditEvents(filter: $filter) {
    id sequence action entityType entityId status description requestId createdAt
    user { username }
  }
}`;
const VERIFY = `query VerifyChain {
  auditChain { valid checkedEntries firstBrokenSequence headHash legacyEntries }
}`;
const CLOSE_REASONS = {
  4401: "the access token expired: refresh the session",
  4403: "the session is no longer valid: sign in again",
  1013: "the server could not check the token: try again later",
  1009: "a message was too large",
  4400: "the server could not read a message",
};

function socketUrl() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/graphql`;
}

function filterOf(values) {
  const filter = {};
  for (const [name, value] of Object.entries(values)) {
    if (value.trim() !== "") filter[name] = value.trim();
  }
  return filter;
}

function describeFilter(filter) {
  const parts = Object.entries(filter).map(([name, value]) => `${name}=${value}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function retryWait(retries) {
  return new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** retries));
}

/**
 * Subscribe while mounted; restarts with a new filter (its rows replace the old filter's), a
 * refreshed access token (rows kept) or a Reconnect after the feed stopped. A dropped connection
 * is retried a few times before the feed stops.
 */
function useAuditFeed(user, filter) {
  const [events, setEvents] = useState([]);
  const [status, setStatus] = useState("connecting");
  const [error, setError] = useState(null);
  const [attempt, setAttempt] = useState(0);
  const token = user.accessToken;
  useEffect(() => setEvents([]), [filter]);
  useEffect(() => {
    setStatus("connecting");
    setError(null);
    const client = createClient({
      url: socketUrl(),
      connectionParams: () => ({ authorization: `Bearer ${token}` }),
      retryAttempts: RETRY_ATTEMPTS,
      retryWait,
      shouldRetry: (event) => !FINAL_CLOSE_CODES.has(event?.code),
      on: {
        connecting: () => setStatus("connecting"),
        connected: () => setStatus("connected"),
      },
    });
    const stop = client.subscribe({ query: EVENTS, variables: { filter } }, {
      next: (message) => {
        if (message.errors?.length) {
          const ext = message.errors[0].extensions ?? {};
          setError({ code: ext.code, message: message.errors[0].message, requestId: ext.requestId });
          return;
        }
        setEvents((current) => [message.data.auditEvents, ...current].slice(0, MAX_EVENTS));
      },
      error: (failure) => {
        setStatus("closed");
        if (failure && typeof failure.code === "number") {
          const reason = CLOSE_REASONS[failure.code] ?? (failure.reason || "the connection closed");
          setError({ code: `WS_${failure.code}`, message: `Live feed stopped: ${reason}.` });
        } else if (Array.isArray(failure)) {
          const ext = failure[0]?.extensions ?? {};
          setError({ code: ext.code, message: failure[0]?.message, requestId: ext.requestId });
        } else {
          setError({ code: NETWORK_ERROR, message: "Live feed stopped: the server cannot be reached." });
        }
      },
      complete: () => setStatus("closed"),
    });
    return () => {
      stop();
      client.dispose();
    };
  }, [token, filter, attempt]);
  return {
    events, status, error,
    clear: () => setEvents([]),
    reconnect: () => setAttempt((current) => current + 1),
  };
}

function ChainCheck({ user }) {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const verify = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult((await call(user, VERIFY)).data.auditChain);
    } catch (failure) {
      setError(failure);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="card" aria-label="Chain verification" role="region">
    <button type="button" onClick=${verify} disabled=${busy}>Verify audit chain</button>
    <${ErrorNotice} error=${error} />
    ${result ? html`<p role="status" class=${result.valid ? "ok" : "bad"}>
      ${result.valid ? "Chain valid: " : `Chain broken at sequence ${result.firstBrokenSequence}: `}
      ${result.checkedEntries} entries checked (${result.legacyEntries} legacy), head ${result.headHash.slice(0, 16)}…
    </p>` : null}
  </div>`;
}

/** The audit screen (for holders of `audit:read`). */
export function AuditScreen({ user }) {
  const empty = { action: "", status: "", entityType: "", entityId: "", userId: "" };
  const [draft, setDraft] = useState(empty);
  const [filter, setFilter] = useState({});
  const feed = useAuditFeed(user, filter);
  const bind = (name) => ({
    value: draft[name],
    onInput: (event) => setDraft({ ...draft, [name]: event.currentTarget.value }),
  });
  const apply = (event) => {
    event.preventDefault();
    setFilter(filterOf(draft));
  };

  return html`<section aria-label="Audit screen">
    <h2>Live audit feed</h2>
    <form class="card filters" onSubmit=${apply} aria-label="Audit filters">
      <${Select} label="Action" options=${[["", "Any"], ...ACTIONS.map((action) => [action, action])]}
        ...${bind("action")} />
      <${Select} label="Outcome" options=${[["", "Any"], ["SUCCESS", "SUCCESS"], ["FAILURE", "FAILURE"]]}
        ...${bind("status")} />
      <label>Entity type<input ...${bind("entityType")} /></label>
      <label>Entity id<input ...${bind("entityId")} /></label>
      <label>User id<input ...${bind("userId")} /></label>
      <button type="submit">Apply filters</button>
      <button type="button" onClick=${feed.clear}>Clear events</button>
    </form>
    <p role="status" aria-label="Live feed status">Live feed: ${feed.status}${describeFilter(filter)}</p>
    ${feed.status === "closed" ? html`<button type="button" onClick=${feed.reconnect}>Reconnect live feed</button>` : null}
    <${ErrorNotice} error=${feed.error} />
    <${ChainCheck} user=${user} />
    <table aria-label="Audit events">
      <thead><tr><th>#</th><th>When</th><th>Action</th><th>Entity</th><th>Outcome</th>
        <th>User</th><th>Description</th></tr></thead>
      <tbody>${feed.events.map((event) => html`<tr key=${event.id}>
        <td>${event.sequence}</td><td>${timestamp(event.createdAt)}</td><td>${event.action}</td>
        <td>${event.entityType ?? ""} ${event.entityId ?? ""}</td><td>${event.status}</td>
        <td>${event.user?.username ?? ""}</td><td>${event.description ?? ""}</td></tr>`)}</tbody>
    </table>
  </section>`;
}
