const day = 24 * 60 * 60 * 1000;

/**
 * When to renew: once `thresholdDays` remain or a third of the lifetime
 * remains, whichever comes first, less up to 1 % of the lifetime of random
 * jitter so a fleet of proxies does not hit the CA at the same moment.
 * A certificate already inside the window when it arrives (a threshold
 * longer than the CA's lifetimes) is renewed at two thirds of its life
 * instead of at once, which would loop.
 */
export function renewalTime(notBefore: Date, notAfter: Date, thresholdDays: number, random = Math.random): Date {
  const start = notBefore.getTime();
  const end = notAfter.getTime();
  const lifetime = Math.max(end - start, 0);
  const byThreshold = end - thresholdDays * day;
  const byLifetime = end - lifetime / 3;
  const jitter = random() * lifetime * 0.01;
  let at = Math.min(byThreshold, byLifetime) - jitter;
  if (at <= start) at = start + (lifetime * 2) / 3 - jitter;
  return new Date(at);
}

/** Delay before retry `attempt` (1-based) after a failed order: 1 min, 2, 4, … capped at 6 h, with ±10 % jitter. */
export function retryDelayMs(attempt: number, baseMs = 60_000, capMs = 6 * 60 * 60 * 1000, random = Math.random): number {
  const delay = Math.min(baseMs * 2 ** Math.max(attempt - 1, 0), capMs);
  return Math.round(delay * (0.9 + random() * 0.2));
}

/** setTimeout cannot wait longer than 2^31-1 ms (~24.8 days); longer waits are taken in steps. */
export const maxTimerMs = 2 ** 31 - 1;
