// Summarises a V8 .cpuprofile: self time per function, biggest first.
import { readFileSync } from 'node:fs';

/**
 * Returns { totalMs, rows: [{ name, where, selfMs, pct }], byArea } for the `top` functions
 * with the most self time; with `keepAll`, also `all`: Map of "name\0where" → self µs.
 */
export function topSelfTime(file, top = 20, keepAll = false) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Sample i took timeDeltas[i+1] µs; attributing deltas (not hit counts) is what DevTools does.
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
  }
  const totals = new Map();
  let all = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id).callFrame;
    const where = f.url ? `${shorten(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}\u0000${where}`;
    totals.set(key, (totals.get(key) ?? 0) + us);
    all += us;
  }
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: all / 1000,
    rows: rows.map(([key, us]) => {
      const [name, where] = key.split('\u0000');
      return { name, where, selfMs: us / 1000, pct: (100 * us) / all };
    }),
    byArea: areas(totals, all),
    ...(keepAll ? { all: totals } : {}),
  };
}

/**
 * Two profiles of the same work (a and b, each with `all` and `units` of work
 * done): the functions whose self time per unit grew most from a to b.
 * Returns [{ name, where, aUs, bUs, deltaUs }] in µs per unit.
 */
export function selfTimeGrowth(a, b, top = 15) {
  // (idle) is waiting, not work: it grows whenever the proxy is not the bottleneck.
  const keys = new Set([...a.all.keys(), ...b.all.keys()].filter((k) => !k.startsWith('(idle)')));
  const rows = [...keys].map((key) => {
    const [name, where] = key.split('\u0000');
    const aUs = (a.all.get(key) ?? 0) / a.units;
    const bUs = (b.all.get(key) ?? 0) / b.units;
    return { name, where, aUs, bUs, deltaUs: bUs - aUs };
  });
  return rows.sort((x, y) => y.deltaUs - x.deltaUs).slice(0, top);
}

/** Self time grouped by where the code lives: smartproxy, Node core, dependencies, V8/GC. */
function areas(totals, all) {
  const sums = new Map();
  for (const [key, us] of totals) {
    const where = key.split('\u0000')[1];
    const name = key.split('\u0000')[0];
    const area = where.startsWith('dist/') ? 'smartproxy (dist/)'
      : where.startsWith('node:') ? 'Node.js core (node:*)'
      : where.includes('node_modules/') ? 'dependencies (node_modules)'
      : name.startsWith('(') ? name
      : 'native / other';
    sums.set(area, (sums.get(area) ?? 0) + us);
  }
  return [...sums].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, pct: (100 * us) / all }));
}

function shorten(url) {
  // The runner's private snapshot (bench/.bench-out/dist-<pid>/) is reported as dist/.
  const m = /\/dist(?:-\d+)?\/(.*)$/.exec(url);
  if (m && !url.includes('/node_modules/')) return `dist/${m[1]}`;
  const j = url.lastIndexOf('/node_modules/');
  if (j !== -1) return url.slice(j + 1);
  return url.replace(/^file:\/\//, '');
}
