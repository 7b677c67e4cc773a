// Error and success notices: an error always shows its code and request id.
import { html } from "../lib.js";

/** An error with its code and request id (or nothing when there is no error). */
export function ErrorNotice({ error }) {
  if (!error) return null;
  const code = error.code ?? "CLIENT_ERROR";
  return html`<div class="notice error" role="alert">
    <strong class="code">${code}</strong> <span class="message">${error.message}</span>
    ${error.requestId ? html` <span class="request-id">request id ${error.requestId}</span>` : null}
  </div>`;
}

/** A short success message. */
export function DoneNotice({ children }) {
  if (!children) return null;
  return html`<div class="notice done" role="status">${children}</div>`;
}
