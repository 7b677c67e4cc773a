// The signed-in users: selector, access-token countdown, refresh prompt, refresh and sign-out.
import { html, useEffect, useState } from "../lib.js";
import {
  forget,
  promptSeconds,
  refresh,
  secondsLeft,
  signOut,
  signedInUsers,
  switchTo,
} from "../session.js";
import { Select } from "../components/select.js";
import { ErrorNotice } from "../components/notice.js";

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, []);
  return now;
}

function RefreshPrompt({ user, left, onRefresh, busy }) {
  if (left > promptSeconds(user)) return null;
  const text = left === 0
    ? "Your access token has expired: refresh the session to go on."
    : `Your access token expires in ${left} s: refresh the session to stay signed in.`;
  return html`<div class="notice warn" role="alert" aria-label="Refresh prompt">
    <span>${text}</span>
    <button type="button" onClick=${onRefresh} disabled=${busy}>Refresh session</button>
  </div>`;
}

/** The bar above every screen while someone is signed in. */
export function UserBar({ user, onAddUser, adding }) {
  const now = useNow();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => setError(null), [user.id]);
  const left = secondsLeft(user, now);
  const refreshExpired = now >= user.refreshExpiresAt;

  const doRefresh = async () => {
    setBusy(true);
    setError(null);
    try {
      await refresh(user);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const doSignOut = async () => {
    setError(null);
    try {
      await signOut(user);
    } catch (failure) {
      setError(failure);
    }
  };

  return html`<section class="userbar" aria-label="Signed-in users">
    <${Select} label="Signed-in user" value=${user.id}
      options=${signedInUsers().map((item) => [item.id, item.username])}
      onInput=${(event) => switchTo(event.currentTarget.value)} />
    <span class="countdown">Access token:
      <span role="timer" aria-label="Access token lifetime">${left > 0 ? clock(left) : "expired"}</span>
    </span>
    <button type="button" onClick=${doRefresh} disabled=${busy}>Refresh token</button>
    <button type="button" onClick=${doSignOut}>Sign out</button>
    <button type="button" aria-pressed=${adding} onClick=${onAddUser}>Add user</button>
    <${RefreshPrompt} user=${user} left=${left} onRefresh=${doRefresh} busy=${busy} />
    ${refreshExpired ? html`<div class="notice error" role="alert">
      The refresh token has expired too: sign in again.
      <button type="button" onClick=${() => forget(user)}>Forget user</button></div>` : null}
    <${ErrorNotice} error=${error} />
  </section>`;
}
