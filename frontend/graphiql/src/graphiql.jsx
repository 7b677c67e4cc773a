// GraphiQL for LedgerQL: every script, style, font and Monaco worker comes from the app itself.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { getIntrospectionQuery, parse } from "graphql";
import { createRoot } from "react-dom/client";

// The assets (this script, its stylesheet, fonts and workers) sit next to this script.
const assets = new URL(".", document.currentScript.src);

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const name = { json: "json", graphql: "graphql" }[label] ?? "editor";
    return new Worker(new URL(`workers/${name}.worker.js`, assets));
  },
};

// Queries and mutations: POST to this page's own URL; subscriptions: graphql-transport-ws on
// the same origin. The headers editor's headers (e.g. Authorization: Bearer ...) go with every
// HTTP request and in the WebSocket's connection_init payload.
const endpoint = new URL(window.location.pathname, window.location.href);
const subscriptionUrl = new URL(endpoint);
subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

const send = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: subscriptionUrl.href,
  enableIncrementalDelivery: false,
});

// graphql-js asks for 9 levels of `ofType` by default, deeper than the server's default depth
// limit (12) allows; no type of this schema is wrapped more than 3 deep (`[T!]!`): 7 is ample.
const INTROSPECTION_QUERY = getIntrospectionQuery({ typeDepth: 7 });

// The toolkit picks the WebSocket for subscriptions by the document GraphiQL parsed last, which
// lags behind the editor right after an edit: parse the text actually sent instead.
function parsedOrNull(query) {
  try {
    return parse(query);
  } catch {
    return null;
  }
}

function fetcher(params, options) {
  if (params.operationName === "IntrospectionQuery") {
    return send({ ...params, query: INTROSPECTION_QUERY }, options);
  }
  const documentAST = parsedOrNull(params.query) ?? options?.documentAST;
  return send(params, { ...options, documentAST });
}

// GraphiQL keeps tabs and history in localStorage, and its history saves each run's headers
// whatever shouldPersistHeaders says. The headers hold access tokens: never store them.
function withoutHeaders(value) {
  try {
    return JSON.stringify(JSON.parse(value), (key, item) => (key === "headers" ? undefined : item));
  } catch {
    return value; // not JSON (the query text itself)
  }
}

const NAMESPACE = "graphiql:";
const storage = {
  getItem: (key) => localStorage.getItem(key),
  setItem: (key, value) =>
    key === `${NAMESPACE}headers`
      ? localStorage.removeItem(key)
      : localStorage.setItem(key, withoutHeaders(value)),
  removeItem: (key) => localStorage.removeItem(key),
  get length() {
    return Object.keys(localStorage).filter((key) => key.startsWith(NAMESPACE)).length;
  },
  clear() {
    for (const key of Object.keys(localStorage).filter((key) => key.startsWith(NAMESPACE))) {
      localStorage.removeItem(key);
    }
  },
};

const DEFAULT_QUERY = `# LedgerQL GraphiQL. Run with Ctrl-Enter.
# Signed-in operations need a header (Headers tab below):
#   {"Authorization": "Bearer <accessToken from the login mutation>"}
{
  health {
    status
    version
    database
  }
}
`;

createRoot(document.getElementById("graphiql")).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={DEFAULT_QUERY}
    shouldPersistHeaders={false}
    storage={storage}
  />,
);
