// Labelled <select>s: the label is tied by id, so option texts never join the label's name.
import { html } from "../lib.js";

/** A stable element id for a label text ("From account" -> "field-from-account"). */
export function fieldId(label) {
  return `field-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}`;
}

/** A <label> and its <select> of `options` ([value, text] pairs). */
export function Select({ label, options, value, onInput }) {
  const id = fieldId(label);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onInput=${onInput} onChange=${onInput}>
      ${options.map(([optionValue, text]) => html`<option value=${optionValue}>${text}</option>`)}
    </select>
  </div>`;
}

/** A <select> of the user's accounts. */
export function AccountSelect({ label, accounts, value, onInput }) {
  const options = [["", "Choose an account"], ...accounts.map((account) => [account.id, account.label])];
  return html`<${Select} label=${label} options=${options} value=${value} onInput=${onInput} />`;
}
