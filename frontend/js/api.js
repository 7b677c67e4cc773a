// GraphQL over HTTP: one POST per operation; failures become ApiError (code + request id).

export const NETWORK_ERROR = "NETWORK_ERROR";

/** A failed operation: a top-level error, a payload error, a transport or network failure. */
export class ApiError extends Error {
  constructor(message, { code = "ERROR", requestId = null, field = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.requestId = requestId;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

function describe(code, message, retryAfter) {
  if (code === "UNAVAILABLE") {
    const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again shortly.";
    return `The service is unavailable right now (its database cannot be reached).${wait}`;
  }
  if (code === "RATE_LIMITED" && retryAfter) return `${message} Try again in ${retryAfter} s.`;
  return message;
}

/** Run one GraphQL operation; resolves to {data, requestId} or throws ApiError. */
export async function gql(query, variables = {}, accessToken = null) {
  const headers = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError("The server cannot be reached. Check the connection and try again.", {
      code: NETWORK_ERROR,
    });
  }
  const headerRequestId = response.headers.get("x-request-id");
  let body;
  try {
    body = await response.json();
  } catch {
    const code = response.status === 503 ? "UNAVAILABLE" : `HTTP_${response.status}`;
    throw new ApiError(describe(code, `The server answered HTTP ${response.status}.`), {
      code,
      requestId: headerRequestId,
    });
  }
  const requestId = body?.extensions?.requestId ?? headerRequestId;
  if (Array.isArray(body?.errors) && body.errors.length > 0) {
    const first = body.errors[0];
    const ext = first.extensions ?? {};
    const code = ext.code ?? "ERROR";
    throw new ApiError(describe(code, first.message, ext.retryAfter), {
      code,
      requestId: ext.requestId ?? requestId,
      field: ext.field ?? null,
      retryAfter: ext.retryAfter ?? null,
    });
  }
  return { data: body.data, requestId };
}

/** The payload of a mutation, or ApiError from its `errors` (business outcomes). */
export function payloadOf(result, field) {
  const payload = result.data[field];
  if (payload.errors && payload.errors.length > 0) {
    const first = payload.errors[0];
    const message = payload.errors.map((error) => error.message).join(" ");
    throw new ApiError(message, {
      code: first.code,
      requestId: result.requestId,
      field: first.field,
    });
  }
  return payload;
}
