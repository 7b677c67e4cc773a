// The signed-in user's sessions, each revocable.
import { html, useCallback, useEffect, useState } from "../lib.js";
import { payloadOf } from "../api.js";
import { call, forget } from "../session.js";
import { timestamp } from "../time.js";
import { DoneNotice, ErrorNotice } from "../components/notice.js";

const SESSIONS = `query Sessions {
  me { sessions { id createdAt lastUsedAt expiresAt ipAddress userAgent current } }
}`;
const REVOKE = `mutation Revoke($input: RevokeSessionInput!) {
  revokeSession(input: $input) { session { id } errors { code message field } }
}`;

/** The sessions screen. */
export function SessionsScreen({ user }) {
  const [sessions, setSessions] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(null);

  const load = useCallback(async () => {
    try {
      setSessions((await call(user, SESSIONS)).data.me.sessions);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }, [user]);
  useEffect(() => {
    load();
  }, [load]);

  const revoke = (session, index) => async () => {
    setBusy(session.id);
    setError(null);
    try {
      payloadOf(await call(user, REVOKE, { input: { sessionId: session.id } }), "revokeSession");
      if (session.current) {
        forget(user);
        return;
      }
      setDone(`Session ${index + 1} revoked.`);
      await load();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };

  return html`<section aria-label="Sessions screen">
    <h2>Sessions of ${user.username}</h2>
    <${ErrorNotice} error=${error} />
    <${DoneNotice}>${done}<//>
    <button type="button" onClick=${load}>Reload sessions</button>
    ${sessions ? html`<table aria-label="Sessions">
      <thead><tr><th>#</th><th>Started</th><th>Last used</th><th>Expires</th><th>Address</th>
        <th>Client</th><th></th></tr></thead>
      <tbody>${sessions.map((session, index) => html`<tr aria-label=${`Session ${index + 1}`}>
        <td>${index + 1}${session.current ? " (this one)" : ""}</td>
        <td>${timestamp(session.createdAt)}</td><td>${timestamp(session.lastUsedAt)}</td>
        <td>${timestamp(session.expiresAt)}</td><td>${session.ipAddress}</td>
        <td class="ua">${session.userAgent}</td>
        <td><button type="button" disabled=${busy === session.id}
          aria-label=${`Revoke session ${index + 1}`} onClick=${revoke(session, index)}>Revoke</button></td>
      </tr>`)}</tbody>
    </table>` : html`<p>Loading…</p>`}
  </section>`;
}
