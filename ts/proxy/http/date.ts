/**
 * The Date header's value (RFC 9110 §6.6.1: a proxy that forwards a
 * response without one adds it), built at most once a second: formatting a
 * date per response costs more than the rest of a small response head.
 */
let second = -1;
let value = '';

/** The current time as an IMF-fixdate, e.g. `Thu, 03 Dec 2026 09:26:48 GMT`. */
export function httpDate(): string {
  const now = Math.floor(Date.now() / 1000);
  if (now !== second) {
    second = now;
    value = new Date(now * 1000).toUTCString();
  }
  return value;
}
