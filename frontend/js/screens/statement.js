// A statement for a date range: opening balance, lines, closing balance, as the API gives them.
import { html, useState } from "../lib.js";
import { useForm } from "../forms.js";
import { call } from "../session.js";
import { timestamp } from "../time.js";
import { AccountSelect } from "../components/select.js";
import { ErrorNotice } from "../components/notice.js";
import { useAccounts } from "./accounts.js";

const STATEMENT = `query Statement($id: ID!, $from: Date!, $to: Date!, $after: String) {
  statement(accountId: $id, from: $from, to: $to) {
    from to
    openingBalance { formatted currency }
    closingBalance { formatted currency }
    totalCredits { formatted }
    totalDebits { formatted }
    transactions(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { id type description createdAt amount { formatted } balanceAfter { formatted } } }
    }
  }
}`;
const CREDITS = new Set(["DEPOSIT", "TRANSFER_IN"]);

function today() {
  return new Date().toISOString().slice(0, 10);
}

function StatementView({ statement, lines, onMore, hasMore }) {
  const currency = statement.openingBalance.currency;
  return html`<section class="card" aria-label="Statement">
    <h3>Statement ${statement.from} to ${statement.to} (${currency})</h3>
    <dl class="totals">
      <dt>Opening balance</dt><dd aria-label="Opening balance">${statement.openingBalance.formatted}</dd>
      <dt>Total credits</dt><dd aria-label="Total credits">${statement.totalCredits.formatted}</dd>
      <dt>Total debits</dt><dd aria-label="Total debits">${statement.totalDebits.formatted}</dd>
      <dt>Closing balance</dt><dd aria-label="Closing balance">${statement.closingBalance.formatted}</dd>
    </dl>
    <table aria-label="Statement lines">
      <thead><tr><th>When</th><th>Type</th><th class="num">Amount</th>
        <th class="num">Balance after</th><th>Description</th></tr></thead>
      <tbody>${lines.map((node) => html`<tr>
        <td>${timestamp(node.createdAt)}</td><td>${node.type}</td>
        <td class="num">${CREDITS.has(node.type) ? "+" : "-"}${node.amount.formatted}</td>
        <td class="num">${node.balanceAfter.formatted}</td><td>${node.description}</td></tr>`)}</tbody>
    </table>
    ${hasMore ? html`<button type="button" onClick=${onMore}>More lines</button>` : null}
  </section>`;
}

/** The statement screen. */
export function StatementScreen({ user }) {
  const { accounts } = useAccounts(user);
  const form = useForm({ accountId: "", from: today(), to: today() });
  const [shown, setShown] = useState(null);

  const fetchPage = async (values, after) => {
    const variables = { id: values.accountId, from: values.from, to: values.to, after };
    return (await call(user, STATEMENT, variables)).data.statement;
  };
  const onSubmit = form.submit(async (values) => {
    if (!values.accountId) throw new Error("Choose an account.");
    const statement = await fetchPage(values, null);
    setShown({ statement, values, lines: statement.transactions.edges.map((edge) => edge.node) });
    return null;
  });
  const more = form.submit(async () => {
    const next = await fetchPage(shown.values, shown.statement.transactions.pageInfo.endCursor);
    const lines = [...shown.lines, ...next.transactions.edges.map((edge) => edge.node)];
    setShown({ ...shown, statement: { ...shown.statement, transactions: next.transactions }, lines });
    return null;
  });

  return html`<section aria-label="Statement screen">
    <h2>Statement</h2>
    <form class="card" onSubmit=${onSubmit} aria-label="Statement range">
      <${AccountSelect} label="Statement account" accounts=${accounts} ...${form.bind("accountId")} />
      <label>From (UTC day)<input type="date" required ...${form.bind("from")} /></label>
      <label>To (UTC day, included)<input type="date" required ...${form.bind("to")} /></label>
      <button type="submit" disabled=${form.busy}>Show statement</button>
      <${ErrorNotice} error=${form.error} />
    </form>
    ${shown ? html`<${StatementView} statement=${shown.statement} lines=${shown.lines}
      hasMore=${shown.statement.transactions.pageInfo.hasNextPage} onMore=${more} />` : null}
  </section>`;
}
