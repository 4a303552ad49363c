// Route table scale, in-process: lookups per second on the live snapshot of
// a started proxy, and the latency of updateRoutes() adding (or removing) one
// route. Prints one JSON line. Usage: node route-scale.mjs '<json>'
// json: { port, sizes: [10, 1000, 10000], lookupMs, updates }
import { pathToFileURL } from 'node:url';

// The runner passes its private snapshot of dist/ (see lib/dist.mjs).
const distIndex = process.env.SMARTPROXY_DIST ? pathToFileURL(process.env.SMARTPROXY_DIST).href : new URL('../dist/index.js', import.meta.url).href;
const { SmartProxy } = await import(distIndex);
// The route table is internal (not reachable through the package's exports); the bench reads it from the same dist.
const { proxyInternals } = await import(new URL('internals.js', distIndex).href);

const o = JSON.parse(process.argv[2]);
const ip = '127.0.0.1';

function routesOf(n) {
  return Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    match: { ports: o.port, domains: `host${i}.bench.test` },
    action: { type: 'forward', target: { host: '127.0.0.1', port: 9 } },
  }));
}

/** Lookups per second over a fixed shuffled list of names that all hit. */
function lookupRate(index, n) {
  const names = Array.from({ length: 4096 }, () => `host${Math.floor(Math.random() * n)}.bench.test`);
  let found = 0;
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < o.lookupMs) {
    for (let i = 0; i < names.length; i++) if (index.match(names[i], '/', ip) !== undefined) found++;
    ops += names.length;
    t = performance.now();
  }
  if (found !== ops) throw new Error(`lookup missed: ${ops - found} of ${ops}`);
  return ops / ((t - t0) / 1000);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const results = [];
for (const n of o.sizes) {
  const routes = routesOf(n);
  const plusOne = [...routes, { name: 'extra', match: { ports: o.port, domains: 'extra.bench.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: 9 } } }];
  const proxy = new SmartProxy({ host: '127.0.0.1', routes });
  let t = performance.now();
  await proxy.start();
  const startMs = performance.now() - t;

  const rates = [];
  for (let r = 0; r < 3; r++) rates.push(lookupRate(proxyInternals(proxy).routes.table.ports.get(o.port).http, n));

  // Alternate n → n+1 → n routes: each call adds or removes exactly one route.
  await proxy.updateRoutes(plusOne); // warm-up, not timed
  await proxy.updateRoutes(routes);
  const times = [];
  for (let i = 0; i < o.updates; i++) {
    t = performance.now();
    await proxy.updateRoutes(i % 2 === 0 ? plusOne : routes);
    times.push(performance.now() - t);
  }
  // The new route must be live after its update, or the timing means nothing.
  await proxy.updateRoutes(plusOne);
  if (proxyInternals(proxy).routes.table.ports.get(o.port).http.match('extra.bench.test', '/', ip)?.name !== 'extra') {
    throw new Error('updateRoutes did not publish the added route');
  }
  await proxy.stop();
  results.push({ routes: n, lookupsPerSec: median(rates), updateMedianMs: median(times), updateMaxMs: Math.max(...times), startMs, updates: times.length });
}
console.log(JSON.stringify(results));
