// A lookup by exact domain costs about the same with 10 routes on a port as
// with 10,000: the index is a map, not a scan. Compared as a ratio of
// fastest runs (the least disturbed) with a generous factor, so a busy machine cannot fail it;
// a linear scan would be hundreds of times slower.
import t, { type TAP } from 'tap';
import { RouteManager } from '../ts/routing/route-manager.js';
import type { IRouteConfig } from '../ts/index.js';
import type { RouteIndex } from '../ts/routing/route-index.js';

const port = 8080;
const probes = Array.from({ length: 10 }, (_, i) => `host-${i}.example.com`);

const target = { host: '127.0.0.1', port: 9 };

/**
 * `count` routes on one port: the ten probed exact names, and either more
 * exact names or (`mixed`) glob routes and domain-less routes with a clientIp
 * condition, the two kinds that cannot be map lookups.
 */
function indexWith(count: number, fillers: 'exact' | 'mixed' = 'exact'): RouteIndex {
  const routes: IRouteConfig[] = [];
  for (let i = count - 1; i >= probes.length; i--) {
    const match: IRouteConfig['match'] =
      fillers === 'exact'
        ? { ports: port, domains: `host-${i}.example.com`, path: '/*' }
        : i % 2 === 0
          ? { ports: port, domains: `api-${i}-*.example.com` }
          : { ports: port, path: '/*', clientIp: ['10.0.0.0/8'] };
    routes.push({ name: `r${i}`, match, action: { type: 'forward', target } });
  }
  // The probed names come last, so a scan in route order would pass every other route first.
  probes.forEach((domain, i) => routes.push({ name: `probe${i}`, match: { ports: port, domains: domain, path: '/*' }, action: { type: 'forward', target } }));
  // A catch-all and a wildcard on the port, as real tables have.
  routes.push({ name: 'wild', match: { ports: port, domains: '*.example.com' }, action: { type: 'block' } });
  routes.push({ name: 'any', match: { ports: port, path: '/*' }, action: { type: 'block' } });
  return new RouteManager().prepare(routes).table.ports.get(port)!.http!;
}

function costOf(index: RouteIndex, lookups: number): number {
  let found = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) {
    if (index.match(probes[i % probes.length]!, '/x', '127.0.0.1') !== undefined) found++;
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  if (found !== lookups) throw new Error(`expected every lookup to match, got ${found} of ${lookups}`);
  return elapsed;
}

/** The fastest run: the one least disturbed by whatever else the machine (CI runs test files in parallel) was doing. */
function fastest(values: number[]): number {
  return Math.min(...values);
}

function assertFlatCost(t: Pick<TAP, 'ok'>, small: RouteIndex, large: RouteIndex): void {
  const lookups = 20_000;
  costOf(small, lookups);
  costOf(large, lookups); // warm up both shapes before measuring
  const smallRuns: number[] = [];
  const largeRuns: number[] = [];
  for (let run = 0; run < 7; run++) {
    smallRuns.push(costOf(small, lookups));
    largeRuns.push(costOf(large, lookups));
  }
  const ratio = fastest(largeRuns) / fastest(smallRuns);
  // A cache-unfriendly large table may cost a few times more per lookup; a scan costs ~1000x. 10x separates them with room for a busy machine.
  t.ok(ratio < 10, `${large.routes.length} routes cost ${ratio.toFixed(2)}x what ${small.routes.length} cost (a scan would be ~1000x)`);
}

t.test('lookup by exact domain: 10,000 routes cost about what 10 cost', async (t) => {
  const small = indexWith(10);
  const large = indexWith(10_000);
  t.equal(large.routes.length, 10_002);
  for (const probe of probes) {
    t.equal(small.match(probe, '/', '127.0.0.1')?.name, large.match(probe, '/', '127.0.0.1')?.name, `${probe} finds the same route`);
  }
  t.equal(large.match('nothing.example.com', '/', '127.0.0.1')?.name, 'wild');
  t.equal(large.match('other.test', '/', '127.0.0.1')?.name, 'any');
  assertFlatCost(t, small, large);
});

t.test('... also when most routes are globs or conditional catch-alls', async (t) => {
  const small = indexWith(10, 'mixed');
  const large = indexWith(10_000, 'mixed');
  t.equal(large.match('host-3.example.com', '/', '127.0.0.1')?.name, 'probe3');
  t.equal(large.match('api-42-x.example.com', '/', '127.0.0.1')?.name, 'wild', 'a wildcard outranks the globs');
  t.equal(large.match('other.test', '/', '10.1.1.1')?.name, 'r9999', 'the first conditional catch-all');
  t.equal(large.match('other.test', '/', '127.0.0.1')?.name, 'any');
  assertFlatCost(t, small, large);
});
