// Money on screen: amounts typed in major units, sent as integer minor units.

const MAX_MINOR = Number.MAX_SAFE_INTEGER;

/** Digits after the point in an API `formatted` amount ("12.34" -> 2, "1234" -> 0). */
export function exponentOf(formatted) {
  return (String(formatted).split(".")[1] ?? "").length;
}

/** "12.3" with exponent 2 -> 1230; throws Error with a readable message when invalid. */
export function toMinorUnits(text, exponent) {
  const value = String(text).trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match) throw new Error("Enter an amount such as 12.34.");
  const fraction = match[2] ?? "";
  if (fraction.length > exponent) {
    throw new Error(`This currency has ${exponent} decimal places.`);
  }
  const minor = Number(match[1] + fraction.padEnd(exponent, "0"));
  if (!Number.isSafeInteger(minor) || minor > MAX_MINOR) {
    throw new Error("This amount is too large.");
  }
  if (minor < 1) throw new Error("Enter an amount greater than zero.");
  return minor;
}
