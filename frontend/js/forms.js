// Form state for mutations: values, one in-flight submit at a time, errors and results.
import { useRef, useState } from "./lib.js";
import { newIdempotencyKey } from "./idempotency.js";

/**
 * Values of a form with an idempotency key made when the form is shown. The key changes only
 * when a value changes, so submitting the same form again (a double click, a retry after a
 * lost answer) sends the same key and the server moves money once.
 */
export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const [key, setKey] = useState(newIdempotencyKey);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const inFlight = useRef(false);

  const bind = (name) => ({
    value: values[name],
    onInput: (event) => {
      const value = event.currentTarget.value;
      setValues((current) => ({ ...current, [name]: value }));
      setKey(newIdempotencyKey());
      setResult(null);
    },
  });

  const submit = (action) => async (event) => {
    event.preventDefault();
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setError(null);
    try {
      setResult(await action(values, key));
    } catch (failure) {
      setError(failure);
      setResult(null);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };

  const reset = (next = initial) => {
    setValues(next);
    setKey(newIdempotencyKey());
  };

  return { values, key, busy, error, result, bind, submit, reset, setResult };
}
