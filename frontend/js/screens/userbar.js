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

/** Selector options: each entry's username, numbered when a user is listed more than once. */
function userOptions(users) {
  return users.map((item) => {
    const same = users.filter((other) => other.id === item.id);
    const label = same.length > 1 ? `${item.username} (${same.indexOf(item) + 1})` : item.username;
    return [item.key, label];
  });
}

/** A failed sign-out: the user stays; retry, or forget locally knowing the session may live on. */
function SignOutFailure({ error, onRetry, onForget, busy }) {
  if (!error) return null;
  return html`<div class="notice error" role="region" aria-label="Sign-out failed">
    <p>Sign-out failed: you are still signed in.</p>
    <${ErrorNotice} error=${error} />
    <button type="button" onClick=${onRetry} disabled=${busy}>Try sign-out again</button>
    <button type="button" onClick=${onForget} disabled=${busy}>Forget locally</button>
    <p>Forgetting locally only drops the tokens from this page: the session may still be active
      on the server until it expires (up to 7 days). Revoke it later from the Sessions screen.</p>
  </div>`;
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
  const [signOutError, setSignOutError] = useState(null);
  useEffect(() => {
    setError(null);
    setSignOutError(null);
  }, [user.key]);
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
    setBusy(true);
    setSignOutError(null);
    try {
      await signOut(user); // unmounts this bar's state for `user` on success
    } catch (failure) {
      setSignOutError(failure);
    } finally {
      setBusy(false);
    }
  };

  return html`<section class="userbar" aria-label="Signed-in users">
    <${Select} label="Signed-in user" value=${user.key}
      options=${userOptions(signedInUsers())}
      onInput=${(event) => switchTo(event.currentTarget.value)} />
    <span class="countdown">Access token:
      <span role="timer" aria-label="Access token lifetime">${left > 0 ? clock(left) : "expired"}</span>
    </span>
    <button type="button" onClick=${doRefresh} disabled=${busy}>Refresh token</button>
    <button type="button" onClick=${doSignOut} disabled=${busy}>Sign out</button>
    <button type="button" aria-pressed=${adding} onClick=${onAddUser}>Add user</button>
    <${RefreshPrompt} user=${user} left=${left} onRefresh=${doRefresh} busy=${busy} />
    ${refreshExpired ? html`<div class="notice error" role="alert">
      The refresh token has expired too: sign in again.
      <button type="button" onClick=${() => forget(user)}>Forget user</button></div>` : null}
    <${ErrorNotice} error=${error} />
    <${SignOutFailure} error=${signOutError} onRetry=${doSignOut} onForget=${() => forget(user)}
      busy=${busy} />
    ${user.warning ? html`<div class="notice warn" role="region" aria-label="Earlier session kept">
      <p>Your earlier session as ${user.username} could not be ended, so it stays listed beside
        this one: select it and sign it out.</p>
      <${ErrorNotice} error=${user.warning} /></div>` : null}
  </section>`;
}
