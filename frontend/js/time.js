// Timestamps on screen: one format everywhere, an ISO date and time in UTC, said so.

/** "2026-12-02T09:04:50.123456+00:00" -> "2026-12-02 09:04:50 UTC" (any offset, shown in UTC). */
export function timestamp(value) {
  if (value == null) return "";
  const moment = new Date(value);
  if (Number.isNaN(moment.getTime())) return String(value);
  return `${moment.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
