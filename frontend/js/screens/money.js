// Deposit, withdraw and transfer forms, each sending the idempotency key of its form (forms.js).
import { html } from "../lib.js";
import { payloadOf } from "../api.js";
import { useForm } from "../forms.js";
import { exponentOf, toMinorUnits } from "../money.js";
import { call } from "../session.js";
import { DoneNotice, ErrorNotice } from "../components/notice.js";
import { AccountSelect } from "../components/select.js";

const MOVEMENT_FIELDS = `transaction { id type amount { formatted currency } }
  account { id balance { formatted currency } }
  errors { code message field }`;
const DEPOSIT = `mutation Deposit($input: MoneyMovementInput!) { deposit(input: $input) { ${MOVEMENT_FIELDS} } }`;
const WITHDRAW = `mutation Withdraw($input: MoneyMovementInput!) { withdraw(input: $input) { ${MOVEMENT_FIELDS} } }`;
const TRANSFER = `mutation Transfer($input: TransferInput!) {
  transfer(input: $input) {
    transfer { id amount { formatted currency } }
    fromAccount { id balance { formatted currency } }
    toAccount { id balance { formatted currency } }
    errors { code message field }
  }
}`;

const CLEAR_AFTER_SUCCESS = { clearAfterSuccess: ["amount"] };

function accountOf(accounts, id) {
  const account = accounts.find((item) => item.id === id);
  if (!account) throw new Error("Choose an account.");
  return account;
}

function MovementForm({ user, accounts, onMoved, kind }) {
  const form = useForm({ accountId: "", amount: "", description: "" }, CLEAR_AFTER_SUCCESS);
  const title = kind === "deposit" ? "Deposit" : "Withdraw";
  const onSubmit = form.submit(async (values, idempotencyKey) => {
    const account = accountOf(accounts, values.accountId);
    const amount = toMinorUnits(values.amount, exponentOf(account.balance.formatted));
    const input = { accountId: account.id, amount, idempotencyKey, description: values.description };
    const result = await call(user, kind === "deposit" ? DEPOSIT : WITHDRAW, { input });
    const payload = payloadOf(result, kind);
    await onMoved();
    return `${title}: ${payload.transaction.amount.formatted} ${payload.transaction.amount.currency}`
      + ` on ${account.label}; balance ${payload.account.balance.formatted}.`;
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label=${title}>
    <h3>${title}</h3>
    <${AccountSelect} label=${`${title} account`} accounts=${accounts} ...${form.bind("accountId")} />
    <label>${title} amount<input inputmode="decimal" required ...${form.bind("amount")} /></label>
    <label>${title} description<input ...${form.bind("description")} /></label>
    <button type="submit" disabled=${form.busy}>${title}</button>
    <${ErrorNotice} error=${form.error} />
    <${DoneNotice}>${form.result}<//>
  </form>`;
}

function TransferForm({ user, accounts, onMoved }) {
  const form = useForm(
    { fromAccountId: "", toAccountId: "", amount: "", description: "" }, CLEAR_AFTER_SUCCESS,
  );
  const onSubmit = form.submit(async (values, idempotencyKey) => {
    const from = accountOf(accounts, values.fromAccountId);
    const to = accountOf(accounts, values.toAccountId);
    const amount = toMinorUnits(values.amount, exponentOf(from.balance.formatted));
    const input = {
      fromAccountId: from.id, toAccountId: to.id, amount, idempotencyKey,
      description: values.description,
    };
    const payload = payloadOf(await call(user, TRANSFER, { input }), "transfer");
    await onMoved();
    return `Transferred ${payload.transfer.amount.formatted} ${payload.transfer.amount.currency}`
      + ` from ${from.label} to ${to.label}.`;
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Transfer">
    <h3>Transfer</h3>
    <${AccountSelect} label="From account" accounts=${accounts} ...${form.bind("fromAccountId")} />
    <${AccountSelect} label="To account" accounts=${accounts} ...${form.bind("toAccountId")} />
    <label>Transfer amount<input inputmode="decimal" required ...${form.bind("amount")} /></label>
    <label>Transfer description<input ...${form.bind("description")} /></label>
    <button type="submit" disabled=${form.busy}>Transfer</button>
    <${ErrorNotice} error=${form.error} />
    <${DoneNotice}>${form.result}<//>
  </form>`;
}

/** The three money forms (shown once the user has an account). */
export function MoneyForms({ user, accounts, onMoved }) {
  if (accounts.length === 0) return null;
  return html`
    <${MovementForm} user=${user} accounts=${accounts} onMoved=${onMoved} kind="deposit" />
    <${MovementForm} user=${user} accounts=${accounts} onMoved=${onMoved} kind="withdraw" />
    <${TransferForm} user=${user} accounts=${accounts} onMoved=${onMoved} />`;
}
