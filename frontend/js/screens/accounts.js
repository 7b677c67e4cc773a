// Accounts with balances: the holder profile, opening accounts, the list, money forms, history.
import { html, useCallback, useEffect, useState } from "../lib.js";
import { payloadOf } from "../api.js";
import { useForm } from "../forms.js";
import { call } from "../session.js";
import { Select } from "../components/select.js";
import { DoneNotice, ErrorNotice } from "../components/notice.js";
import { MoneyForms } from "./money.js";
import { TransactionList } from "./transactions.js";

const ACCOUNTS = `query Accounts {
  me {
    accountHolder { id firstName lastName }
    accounts(first: 100) {
      edges { node { id type currency status balance { amount currency formatted } } }
    }
  }
}`;
const CREATE_HOLDER = `mutation CreateHolder($input: CreateAccountHolderInput!) {
  createAccountHolder(input: $input) { accountHolder { id } errors { code message field } }
}`;
const OPEN_ACCOUNT = `mutation OpenAccount($input: OpenAccountInput!) {
  openAccount(input: $input) { account { id } errors { code message field } }
}`;

/** The user's holder and accounts (numbered #1, #2... oldest first), with a reload. */
export function useAccounts(user) {
  const [state, setState] = useState({ loading: true, holder: null, accounts: [], error: null });
  const reload = useCallback(async () => {
    try {
      const { data } = await call(user, ACCOUNTS);
      const accounts = data.me.accounts.edges.map((edge, index) => ({
        ...edge.node,
        label: `#${index + 1} ${edge.node.type} ${edge.node.currency}`,
        number: index + 1,
      }));
      setState({ loading: false, holder: data.me.accountHolder, accounts, error: null });
    } catch (error) {
      setState((current) => ({ ...current, loading: false, error }));
    }
  }, [user]);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

function HolderForm({ user, onCreated }) {
  const form = useForm({ firstName: "", lastName: "", dateOfBirth: "" });
  const onSubmit = form.submit(async (values) => {
    const result = await call(user, CREATE_HOLDER, { input: values });
    payloadOf(result, "createAccountHolder");
    await onCreated();
    return "Holder profile created.";
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Create holder">
    <h2>Create your holder profile</h2>
    <p>Accounts belong to a holder: create yours first.</p>
    <label>First name<input required ...${form.bind("firstName")} /></label>
    <label>Last name<input required ...${form.bind("lastName")} /></label>
    <label>Date of birth<input type="date" required ...${form.bind("dateOfBirth")} /></label>
    <button type="submit" disabled=${form.busy}>Create holder</button>
    <${ErrorNotice} error=${form.error} />
  </form>`;
}

function OpenAccountForm({ user, onOpened }) {
  const form = useForm({ type: "CHECKING", currency: "USD" });
  const onSubmit = form.submit(async (values) => {
    const input = { type: values.type, currency: values.currency.trim().toUpperCase() };
    payloadOf(await call(user, OPEN_ACCOUNT, { input }), "openAccount");
    await onOpened();
    return `${input.type} account in ${input.currency} opened.`;
  });
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Open account">
    <h3>Open an account</h3>
    <${Select} label="Account type" options=${[["CHECKING", "Checking"], ["SAVINGS", "Savings"]]}
      ...${form.bind("type")} />
    <label>Currency<input required maxlength="3" ...${form.bind("currency")} /></label>
    <button type="submit" disabled=${form.busy}>Open account</button>
    <${ErrorNotice} error=${form.error} />
    <${DoneNotice}>${form.result}<//>
  </form>`;
}

function AccountTable({ accounts, selected, onSelect }) {
  if (accounts.length === 0) return html`<p>No accounts yet.</p>`;
  return html`<table aria-label="Accounts">
    <thead><tr><th>Account</th><th>Status</th><th class="num">Balance</th><th></th></tr></thead>
    <tbody>
      ${accounts.map((account) => html`<tr aria-label=${`Account ${account.label}`}
          class=${account.id === selected ? "selected" : ""}>
        <td>${account.label}</td>
        <td>${account.status}</td>
        <td class="num" data-testid=${`balance-${account.number}`}>
          ${account.balance.formatted} ${account.balance.currency}</td>
        <td><button type="button" onClick=${() => onSelect(account.id)}
          aria-label=${`Transactions of ${account.label}`}>Transactions</button></td>
      </tr>`)}
    </tbody>
  </table>`;
}

/** The accounts screen. */
export function AccountsScreen({ user }) {
  const { loading, holder, accounts, error, reload } = useAccounts(user);
  const [selected, setSelected] = useState(null);
  const [historyVersion, setHistoryVersion] = useState(0);
  const afterMovement = async () => {
    await reload();
    setHistoryVersion((version) => version + 1);
  };
  if (loading) return html`<p>Loading accounts…</p>`;
  if (!holder) {
    return html`<section aria-label="Accounts screen">
      <${ErrorNotice} error=${error} />
      <${HolderForm} user=${user} onCreated=${reload} />
    </section>`;
  }
  const shown = accounts.find((account) => account.id === selected);
  return html`<section aria-label="Accounts screen">
    <h2>Accounts of ${holder.firstName} ${holder.lastName}</h2>
    <${ErrorNotice} error=${error} />
    <button type="button" onClick=${reload}>Reload accounts</button>
    <${AccountTable} accounts=${accounts} selected=${selected} onSelect=${setSelected} />
    <div class="grid three">
      <${OpenAccountForm} user=${user} onOpened=${reload} />
      <${MoneyForms} user=${user} accounts=${accounts} onMoved=${afterMovement} />
    </div>
    ${shown ? html`<${TransactionList} key=${shown.id} user=${user} account=${shown}
      version=${historyVersion} />` : null}
  </section>`;
}
