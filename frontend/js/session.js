// Signed-in users side by side, in memory only: never browser storage, never cookies.
import { ApiError, gql } from "./api.js";

const USER_FIELDS = "id username fullName roles { name permissions }";
const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) {
    accessToken refreshToken expiresIn refreshExpiresIn
    user { ${USER_FIELDS} }
  }
}`;
const REFRESH = `mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken refreshToken expiresIn refreshExpiresIn }
}`;
const LOGOUT = `mutation Logout { logout { revokedSessions } }`;

const users = [];
let activeKey = null;
let nextKey = 1; // each sign-in is its own entry (`key`), even of the same user
const listeners = new Set();

function notify() {
  for (const listener of listeners) listener();
}

function applyTokens(user, tokens) {
  const now = Date.now();
  user.accessToken = tokens.accessToken;
  user.refreshToken = tokens.refreshToken;
  user.ttlSeconds = tokens.expiresIn;
  user.expiresAt = now + tokens.expiresIn * 1000;
  user.refreshExpiresAt = now + tokens.refreshExpiresIn * 1000;
}

/** Call `listener` after every change of the signed-in users; returns the unsubscribe. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Every signed-in user, in sign-in order. */
export function signedInUsers() {
  return users.slice();
}

/** The user the screens act as, or null. */
export function activeUser() {
  return users.find((user) => user.key === activeKey) ?? null;
}

/** Act as another signed-in user (by entry `key`). */
export function switchTo(key) {
  activeKey = Number(key);
  notify();
}

/** Whether `user` holds `permission` through one of their roles. */
export function hasPermission(user, permission) {
  return user.roles.some((role) => role.permissions.includes(permission));
}

/** Whole seconds left of the user's access token (0 once expired). */
export function secondsLeft(user, now = Date.now()) {
  return Math.max(0, Math.ceil((user.expiresAt - now) / 1000));
}

/** Seconds before expiry at which the refresh prompt shows: a minute, or half a short TTL. */
export function promptSeconds(user) {
  return Math.min(60, Math.floor(user.ttlSeconds / 2));
}

/**
 * Sign in; the user joins the list and becomes active. Signed in again as a listed user, the
 * earlier session is ended on the server before the new entry replaces it. If it cannot be
 * ended, both entries stay listed side by side, and the new one carries the failure as
 * `warning`, so the earlier one can be signed out later.
 */
export async function signIn(username, password) {
  const { data } = await gql(LOGIN, { input: { username, password } });
  const login = data.login;
  const user = { ...login.user, key: nextKey++, warning: null };
  applyTokens(user, login);
  const earlier = users.find((existing) => existing.id === user.id);
  if (earlier) {
    try {
      await endSession(earlier);
      users.splice(users.indexOf(earlier), 1, user);
      dropTokens(earlier);
    } catch (failure) {
      user.warning = failure;
      users.push(user);
    }
  } else {
    users.push(user);
  }
  activeKey = user.key;
  notify();
  return user;
}

/** Rotate the user's refresh token for a new pair (the old refresh token is spent). */
export async function refresh(user) {
  const { data } = await gql(REFRESH, { input: { refreshToken: user.refreshToken } });
  applyTokens(user, data.refreshToken);
  notify();
  return user;
}

function dropTokens(user) {
  user.accessToken = null;
  user.refreshToken = null;
}

/** Forget a user locally: their tokens are dropped from memory, the server is not asked. */
export function forget(user) {
  const index = users.indexOf(user);
  if (index >= 0) users.splice(index, 1);
  dropTokens(user);
  if (activeKey === user.key) activeKey = users[0]?.key ?? null;
  notify();
}

function isUnauthenticated(error) {
  return error instanceof ApiError && error.code === "UNAUTHENTICATED";
}

/**
 * End the user's session on the server. An access token refused as UNAUTHENTICATED (expired) is
 * refreshed first, then the logout is sent again; a refresh token refused too means the session
 * has already ended (expired or revoked). Any other failure is thrown.
 */
async function endSession(user) {
  try {
    await gql(LOGOUT, {}, user.accessToken);
    return;
  } catch (error) {
    if (!isUnauthenticated(error)) throw error;
  }
  try {
    await refresh(user);
  } catch (error) {
    if (isUnauthenticated(error)) return;
    throw error;
  }
  await gql(LOGOUT, {}, user.accessToken);
}

/** End the user's session on the server, then forget them; on failure they stay listed. */
export async function signOut(user) {
  await endSession(user);
  forget(user);
}

/** Run an operation as `user`. */
export function call(user, query, variables = {}) {
  return gql(query, variables, user.accessToken);
}
