// Small numeric and formatting helpers for the report.
export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmt(n, digits = 0) {
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Two significant-ish digits for ratios and latencies. */
export function short(n) {
  if (!Number.isFinite(n)) return '—';
  if (n >= 100) return fmt(n, 0);
  if (n >= 10) return fmt(n, 1);
  return fmt(n, 2);
}
