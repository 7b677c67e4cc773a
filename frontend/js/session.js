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
let activeId = null;
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
  return users.find((user) => user.id === activeId) ?? null;
}

/** Act as another signed-in user. */
export function switchTo(id) {
  activeId = id;
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

/** Sign in; the user joins (or, signed in again, replaces) the list and becomes active. */
export async function signIn(username, password) {
  const { data } = await gql(LOGIN, { input: { username, password } });
  const login = data.login;
  const user = { ...login.user };
  applyTokens(user, login);
  const index = users.findIndex((existing) => existing.id === user.id);
  if (index >= 0) users.splice(index, 1, user);
  else users.push(user);
  activeId = user.id;
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

/** Forget a user locally (their tokens are dropped from memory). */
export function forget(user) {
  const index = users.indexOf(user);
  if (index >= 0) users.splice(index, 1);
  user.accessToken = null;
  user.refreshToken = null;
  if (activeId === user.id) activeId = users[0]?.id ?? null;
  notify();
}

/** End the user's session on the server, then forget them (also when the server refuses). */
export async function signOut(user) {
  try {
    await gql(LOGOUT, {}, user.accessToken);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "UNAUTHENTICATED") {
      forget(user);
      throw error;
    }
  }
  forget(user);
}

/** Run an operation as `user`. */
export function call(user, query, variables = {}) {
  return gql(query, variables, user.accessToken);
}
