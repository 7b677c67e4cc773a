// Form state for mutations: values, one in-flight submit at a time, errors and results.
import { useRef, useState } from "./lib.js";
import { ApiError, NETWORK_ERROR } from "./api.js";
import { newIdempotencyKey } from "./idempotency.js";

/** Whether a failure means the answer was lost: the request may or may not have been applied. */
export function answerLost(failure) {
  if (!(failure instanceof ApiError)) return false;
  return failure.code === NETWORK_ERROR || failure.code === "UNAVAILABLE"
    || /^HTTP_5\d\d$/.test(failure.code);
}

/**
 * Values of a form, with an idempotency key for the next submit. The key is kept while an answer
 * is lost (network error, UNAVAILABLE, HTTP 5xx), so a retry of the same request is applied once,
 * and changed after any answer received (success or a business error) and after a field changes,
 * so a deliberate new submit is a new request. A double click is one submit: while one is in
 * flight, the others are dropped. `clearAfterSuccess` names fields emptied after a success.
 */
export function useForm(initial, { clearAfterSuccess = [] } = {}) {
  const [values, setValues] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const inFlight = useRef(false);
  const key = useRef(newIdempotencyKey());

  const bind = (name) => ({
    value: values[name],
    onInput: (event) => {
      const value = event.currentTarget.value;
      setValues((current) => ({ ...current, [name]: value }));
      key.current = newIdempotencyKey();
      setResult(null);
    },
  });

  const submit = (action) => async (event) => {
    event.preventDefault();
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setError(null);
    const sentKey = key.current;
    try {
      setResult(await action(values, sentKey));
      key.current = newIdempotencyKey();
      const cleared = Object.fromEntries(clearAfterSuccess.map((name) => [name, initial[name]]));
      setValues((current) => ({ ...current, ...cleared }));
    } catch (failure) {
      if (failure instanceof ApiError && !answerLost(failure)) key.current = newIdempotencyKey();
      setError(failure);
      setResult(null);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };

  return { values, busy, error, result, bind, submit };
}
