// Cards of an account: issue (number and code shown once), freeze, unfreeze, cancel.
import { html, useCallback, useEffect, useState } from "../lib.js";
import { payloadOf } from "../api.js";
import { useForm } from "../forms.js";
import { call } from "../session.js";
import { AccountSelect, Select } from "../components/select.js";
import { ErrorNotice } from "../components/notice.js";
import { useAccounts } from "./accounts.js";

const CARDS = `query Cards($id: ID!) {
  account(id: $id) { id cards { id type last4 expiryMonth expiryYear status } }
}`;
const ISSUE = `mutation IssueCard($input: IssueCardInput!) {
  issueCard(input: $input) { card { id last4 } cardNumber securityCode errors { code message field } }
}`;
/** The freezeCard / unfreezeCard / cancelCard mutation: same input, same payload. */
function cardChange(mutation) {
  return `mutation CardChange($input: CardIdInput!) {
  ${mutation}(input: $input) { card { id status } errors { code message field } }
}`;
}

/** The card number and code, shown until dismissed; then they are dropped from memory. */
function SecretCard({ secret, onDismiss }) {
  if (!secret) return null;
  return html`<div class="notice secret" role="region" aria-label="New card details">
    <p>Note these now: they are shown only once.</p>
    <dl>
      <dt>Card number</dt><dd aria-label="Card number">${secret.cardNumber}</dd>
      <dt>Security code</dt><dd aria-label="Security code">${secret.securityCode}</dd>
    </dl>
    <button type="button" onClick=${onDismiss}>I have noted them</button>
  </div>`;
}

function CardRow({ user, card, onChanged }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const change = (mutation) => async () => {
    setBusy(true);
    setError(null);
    try {
      payloadOf(await call(user, cardChange(mutation), { input: { cardId: card.id } }), mutation);
      await onChanged();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const name = `card ending ${card.last4}`;
  return html`<tr aria-label=${`Card ending ${card.last4}`}>
    <td>${card.type}</td><td>•••• ${card.last4}</td>
    <td>${String(card.expiryMonth).padStart(2, "0")}/${card.expiryYear}</td><td>${card.status}</td>
    <td>
      ${card.status === "ACTIVE" ? html`<button type="button" disabled=${busy}
        aria-label=${`Freeze ${name}`} onClick=${change("freezeCard")}>Freeze</button>` : null}
      ${card.status === "FROZEN" ? html`<button type="button" disabled=${busy}
        aria-label=${`Unfreeze ${name}`} onClick=${change("unfreezeCard")}>Unfreeze</button>` : null}
      ${card.status !== "CANCELLED" ? html`<button type="button" disabled=${busy}
        aria-label=${`Cancel ${name}`} onClick=${change("cancelCard")}>Cancel</button>` : null}
      <${ErrorNotice} error=${error} />
    </td>
  </tr>`;
}

/** The cards screen. */
export function CardsScreen({ user }) {
  const { accounts, error: accountsError } = useAccounts(user);
  const form = useForm({ accountId: "", type: "VIRTUAL" });
  const [cards, setCards] = useState([]);
  const [error, setError] = useState(null);
  const [secret, setSecret] = useState(null);
  const accountId = form.values.accountId;

  const load = useCallback(async () => {
    if (!accountId) return setCards([]);
    try {
      setCards((await call(user, CARDS, { id: accountId })).data.account.cards);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }, [user, accountId]);
  useEffect(() => {
    load();
  }, [load]);
  useEffect(() => setSecret(null), [accountId]); // another account: the new card's secrets go

  const onSubmit = form.submit(async (values) => {
    if (!values.accountId) throw new Error("Choose an account.");
    const input = { accountId: values.accountId, type: values.type };
    const payload = payloadOf(await call(user, ISSUE, { input }), "issueCard");
    setSecret({ cardNumber: payload.cardNumber, securityCode: payload.securityCode });
    await load();
    return null;
  });

  return html`<section aria-label="Cards screen">
    <h2>Cards</h2>
    <${ErrorNotice} error=${accountsError ?? error} />
    <form class="card" onSubmit=${onSubmit} aria-label="Issue card">
      <${AccountSelect} label="Card account" accounts=${accounts} ...${form.bind("accountId")} />
      <${Select} label="Card type" options=${[["VIRTUAL", "Virtual"], ["DEBIT", "Debit"]]}
        ...${form.bind("type")} />
      <button type="submit" disabled=${form.busy}>Issue card</button>
      <${ErrorNotice} error=${form.error} />
    </form>
    <${SecretCard} secret=${secret} onDismiss=${() => setSecret(null)} />
    ${accountId ? html`<table aria-label="Cards">
      <thead><tr><th>Type</th><th>Number</th><th>Expiry</th><th>Status</th><th></th></tr></thead>
      <tbody>${cards.map((card) => html`<${CardRow} key=${card.id} user=${user} card=${card}
        onChanged=${load} />`)}</tbody>
    </table>` : html`<p>Choose an account to see its cards.</p>`}
  </section>`;
}
