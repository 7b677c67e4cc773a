// An account's transactions, newest first, paged with cursors (Next / Previous).
import { html, useEffect, useRef, useState } from "../lib.js";
import { call } from "../session.js";
import { timestamp } from "../time.js";
import { ErrorNotice } from "../components/notice.js";

export const PAGE_SIZE = 5;
const TRANSACTIONS = `query Transactions($id: ID!, $first: Int!, $after: String) {
  account(id: $id) {
    transactions(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id type description createdAt
        amount { formatted currency } balanceAfter { formatted } } }
    }
  }
}`;

/** One page at a time; `version` changes after a money movement to reload the first page. */
export function TransactionList({ user, account, version }) {
  const [cursors, setCursors] = useState([null]); // the `after` of each page seen so far
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const after = cursors[cursors.length - 1];

  const shownVersion = useRef(version);
  useEffect(() => {
    if (shownVersion.current === version) return; // the first page is being fetched already
    shownVersion.current = version;
    setCursors([null]);
  }, [version]);
  useEffect(() => {
    let current = true;
    call(user, TRANSACTIONS, { id: account.id, first: PAGE_SIZE, after })
      .then(({ data }) => current && (setPage(data.account.transactions), setError(null)))
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [user, account.id, cursors]);

  const pageNumber = cursors.length;
  return html`<section class="card" aria-label=${`Transactions of ${account.label}`}>
    <h3>Transactions of ${account.label}</h3>
    <${ErrorNotice} error=${error} />
    ${page ? html`
      <p>${page.totalCount} transactions; page ${pageNumber}.</p>
      <table aria-label="Transactions">
        <thead><tr><th>When</th><th>Type</th><th class="num">Amount</th>
          <th class="num">Balance after</th><th>Description</th></tr></thead>
        <tbody>${page.edges.map(({ node }) => html`<tr>
          <td>${timestamp(node.createdAt)}</td><td>${node.type}</td>
          <td class="num">${node.amount.formatted}</td><td class="num">${node.balanceAfter.formatted}</td>
          <td>${node.description}</td></tr>`)}</tbody>
      </table>
      <button type="button" disabled=${pageNumber === 1}
        onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!page.pageInfo.hasNextPage}
        onClick=${() => setCursors([...cursors, page.pageInfo.endCursor])}>Next page</button>
    ` : html`<p>Loading…</p>`}
  </section>`;
}
