// The console's entry point: the user bar, the screen tabs, and a last-resort error display.
import { html, render, useEffect, useErrorBoundary, useState } from "./lib.js";
import { activeUser, hasPermission, subscribe } from "./session.js";
import { ErrorNotice } from "./components/notice.js";
import { AccountsScreen } from "./screens/accounts.js";
import { AuditScreen } from "./screens/audit.js";
import { CardsScreen } from "./screens/cards.js";
import { SessionsScreen } from "./screens/sessions.js";
import { SignInScreen } from "./screens/signin.js";
import { StatementScreen } from "./screens/statement.js";
import { UserBar } from "./screens/userbar.js";

const SCREENS = [
  ["Accounts", AccountsScreen, null],
  ["Cards", CardsScreen, null],
  ["Statement", StatementScreen, null],
  ["Sessions", SessionsScreen, null],
  ["Audit", AuditScreen, "audit:read"],
];

function showFatal(message) {
  const box = document.getElementById("fatal");
  box.textContent = `The console hit an error: ${message}. Reload the page to start again.`;
  box.hidden = false;
}

function useSessionVersion() {
  const [version, setVersion] = useState(0);
  useEffect(() => subscribe(() => setVersion((current) => current + 1)), []);
  return version;
}

function Screens({ user }) {
  const [tab, setTab] = useState("Accounts");
  const screens = SCREENS.filter(([, , permission]) => !permission || hasPermission(user, permission));
  const [, Screen] = screens.find(([name]) => name === tab) ?? screens[0];
  return html`
    <nav aria-label="Screens">
      ${screens.map(([name]) => html`<button type="button" aria-pressed=${name === tab}
        onClick=${() => setTab(name)}>${name}</button>`)}
    </nav>
    <${Screen} user=${user} />`;
}

function App() {
  useSessionVersion();
  const [adding, setAdding] = useState(false);
  const [failure, resetFailure] = useErrorBoundary();
  const user = activeUser();
  useEffect(() => setAdding(false), [user?.key]); // signed in (or switched): close the forms
  if (failure) {
    return html`<${ErrorNotice} error=${{ code: "CLIENT_ERROR", message: String(failure.message ?? failure) }} />
      <button type="button" onClick=${resetFailure}>Try again</button>`;
  }
  return html`<header><h1>LedgerQL console</h1></header>
    ${user ? html`<${UserBar} user=${user} adding=${adding} onAddUser=${() => setAdding(!adding)} />` : null}
    ${!user || adding ? html`<${SignInScreen} />` : null}
    ${user ? html`<${Screens} key=${user.key} user=${user} />` : null}`;
}

window.addEventListener("error", (event) => showFatal(event.message));
window.addEventListener("unhandledrejection", (event) => showFatal(String(event.reason?.message ?? event.reason)));
const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
root.dataset.started = "true"; // boot.js's watchdog stands down
