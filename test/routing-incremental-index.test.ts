// An index derived from the previous one (only the lists an update touches
// are rebuilt; routes added later get order numbers between their
// neighbours') must match exactly as an index built from scratch, after any
// sequence of additions, removals, moves and edits. And adding one route to
// ten thousand through updateRoutes' own path publishes it, keeps every other
// compiled route, and leaves precedence as it was.
import t from 'tap';
import fc from 'fast-check';
import { compileRoute, newRouteState, type Route } from '../ts/routing/route.js';
import { RouteIndex } from '../ts/routing/route-index.js';
import { RouteManager } from '../ts/routing/route-manager.js';
import type { IRouteConfig } from '../ts/index.js';
import { httpGet, startHttpBackend } from './helpers/backends.js';
import { startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { proxyInternals } from '../ts/internals.js';

const runs = Number(process.env.FUZZ_RUNS ?? 300);
const port = 8080;
const target = { host: '127.0.0.1', port: 9 };

// Few distinct values, so many routes tie and the order given decides.
const domainChoices = [undefined, 'a.test', 'b.test', 'x.a.test', '*.a.test', '*.test', 'x-*.a.test', '*', ['a.test', '*.a.test'], ['b.test', 'b.test']] as const;
const pathChoices = [undefined, '/api/*', '/api/v1/*', '/api/health'] as const;
const queries = {
  domains: [undefined, 'a.test', 'b.test', 'x.a.test', 'y.a.test', 'x-1.a.test', 'c.test', 'other'],
  paths: [undefined, '/', '/api/x', '/api/v1/x', '/api/health'],
  ips: ['10.1.1.1', '127.0.0.1'],
};

interface Shape {
  priority: number;
  domains: number;
  path: number;
  clientIp: boolean;
}

const shape: fc.Arbitrary<Shape> = fc.record({
  priority: fc.constantFrom(0, 0, 0, 1, -1),
  domains: fc.nat({ max: domainChoices.length - 1 }),
  path: fc.nat({ max: pathChoices.length - 1 }),
  clientIp: fc.boolean(),
});

let serial = 0;
function configOf(s: Shape): IRouteConfig {
  const domains = domainChoices[s.domains];
  return {
    name: `route-${serial++}`,
    priority: s.priority,
    match: {
      ports: port,
      ...(domains === undefined ? {} : { domains: typeof domains === 'string' ? domains : [...domains] }),
      ...(pathChoices[s.path] === undefined ? {} : { path: pathChoices[s.path] }),
      ...(s.clientIp ? { clientIp: ['10.0.0.0/8'] } : {}),
    },
    action: { type: 'forward', target },
  };
}

function compiled(s: Shape): Route {
  const config = configOf(s);
  return compileRoute(config, config.name!, newRouteState());
}

type Op =
  | { kind: 'add'; at: number; shape: Shape }
  | { kind: 'remove'; at: number }
  | { kind: 'move'; from: number; to: number }
  | { kind: 'many'; shapes: Shape[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), at: fc.nat(), shape }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('move' as const), from: fc.nat(), to: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('many' as const), shapes: fc.array(shape, { maxLength: 60 }) }) },
);

/** The list after `o`, as a new array (the old one stays what the old index was built from). */
function apply(list: readonly Route[], o: Op): Route[] {
  const next = list.slice();
  if (o.kind === 'add') next.splice(o.at % (next.length + 1), 0, compiled(o.shape));
  else if (o.kind === 'remove' && next.length > 0) next.splice(o.at % next.length, 1);
  else if (o.kind === 'move' && next.length > 0) next.splice(o.to % next.length, 0, ...next.splice(o.from % next.length, 1));
  else if (o.kind === 'many') for (const s of o.shapes) next.push(compiled(s));
  return next;
}

/** The first query on which the two indexes pick different routes, or undefined. */
function difference(derived: RouteIndex, fresh: RouteIndex): string | undefined {
  for (const domain of queries.domains) {
    for (const path of queries.paths) {
      for (const ip of queries.ips) {
        const a = derived.match(domain, path, ip);
        const b = fresh.match(domain, path, ip);
        if (a !== b) return `${domain} ${path} ${ip}: derived ${a?.name}, from scratch ${b?.name}`;
      }
    }
  }
  return undefined;
}

t.test('derive() matches as a from-scratch index after random add/remove/move sequences', async (t) => {
  let derivations = 0;
  fc.assert(
    fc.property(fc.array(shape, { maxLength: 40 }), fc.array(op, { minLength: 1, maxLength: 25 }), (start, ops) => {
      let list = start.map(compiled);
      let index = new RouteIndex(list);
      const seen: RouteIndex[] = [index];
      for (const o of ops) {
        const next = apply(list, o);
        const before = seen.map((old) => queries.domains.map((d) => old.match(d, '/api/x', '10.1.1.1')));
        index = index.derive(next);
        derivations++;
        const problem = difference(index, new RouteIndex(next));
        if (problem !== undefined) throw new Error(`after ${o.kind}: ${problem}`);
        // Deriving never changes what an older index (a table still being read) answers.
        seen.forEach((old, i) => {
          const now = queries.domains.map((d) => old.match(d, '/api/x', '10.1.1.1'));
          if (now.some((r, j) => r !== before[i]![j])) throw new Error('an older index changed its answers');
        });
        seen.push(index);
        list = next;
      }
      return true;
    }),
    { numRuns: runs },
  );
  t.pass(`${runs} sequences, ${derivations} derived indexes`);
});

t.test('many inserts at one spot (order numbers halving their gap, drift growing) fall back to a rebuild, still correct', async (t) => {
  const first = compiled({ priority: 0, domains: 1, path: 0, clientIp: false });
  const last = compiled({ priority: 0, domains: 1, path: 0, clientIp: false });
  let list = [first, last];
  let index = new RouteIndex(list);
  // Each new route goes just before `last`: its number halves the gap every time.
  for (let i = 0; i < 200; i++) {
    list = [...list.slice(0, -1), compiled({ priority: 0, domains: 1, path: 0, clientIp: false }), last];
    index = index.derive(list);
    t.equal(difference(index, new RouteIndex(list)), undefined, `insert ${i}`);
  }
  t.equal(index.match('a.test', '/', '127.0.0.1'), first);
});

function forward(name: string, domains: string, priority?: number): IRouteConfig {
  return { name, ...(priority === undefined ? {} : { priority }), match: { ports: port, domains }, action: { type: 'forward', target } };
}

t.test('10,000 routes plus one through RouteManager: the new route is live, the others are the same compiled objects', async (t) => {
  const manager = new RouteManager();
  const routes = Array.from({ length: 10_000 }, (_, i) => forward(`r${i}`, `host${i}.test`));
  routes.push(forward('shared-first', 'shared.test'));
  manager.commit(manager.prepare(routes));
  const before = manager.table;
  const beforeIndex = before.ports.get(port)!.http!;

  // Edits to the caller's objects after an update must not matter; make sure the same objects are passed again.
  const plusOne = [...routes, forward('extra', 'extra.test'), forward('shared-second', 'shared.test'), forward('shared-urgent', 'shared.test', 5)];
  manager.commit(manager.prepare(plusOne));
  const after = manager.table;
  const index = after.ports.get(port)!.http!;

  t.equal(index.match('extra.test', '/', '127.0.0.1')?.name, 'extra', 'the added route is live');
  t.equal(index.match('host1234.test', '/', '127.0.0.1')?.name, 'r1234');
  t.equal(index.match('shared.test', '/', '127.0.0.1')?.name, 'shared-urgent', 'a higher priority wins');
  t.equal(beforeIndex.match('extra.test', '/', '127.0.0.1'), undefined, 'the old snapshot does not see it');
  t.equal(beforeIndex.match('shared.test', '/', '127.0.0.1')?.name, 'shared-first', 'nor the routes sharing a domain');
  t.equal(after.refCount(port), 10_004, 'one reference per route');
  let reused = 0;
  for (let i = 0; i < 10_001; i++) if (after.routes[i] === before.routes[i]) reused++;
  t.equal(reused, 10_001, 'every unchanged route keeps its compiled object (and its live state)');
  t.notOk(before.routes.some((r) => r.state.retired), 'nothing was retired');

  // Removing the urgent route: the first route given wins again over the second, equal one.
  manager.commit(manager.prepare(plusOne.filter((r) => r.name !== 'shared-urgent')));
  t.equal(manager.table.ports.get(port)!.http!.match('shared.test', '/', '127.0.0.1')?.name, 'shared-first', 'order given breaks the tie');
  t.ok(after.routes.find((r) => r.name === 'shared-urgent')!.state.retired, 'the removed route is retired');
  // Inserting an equal route before it: now that one comes first.
  manager.commit(manager.prepare([forward('shared-zeroth', 'shared.test'), ...routes]));
  const last = manager.table.ports.get(port)!.http!;
  t.equal(last.match('shared.test', '/', '127.0.0.1')?.name, 'shared-zeroth');
  t.equal(last.match('extra.test', '/', '127.0.0.1'), undefined, 'the route removed is gone');
  t.equal(last.match('host9999.test', '/', '127.0.0.1')?.name, 'r9999');
});

t.test('through RouteManager: random updates match a fresh manager given the same routes', async (t) => {
  const shapes = fc.array(fc.tuple(fc.nat({ max: 30 }), shape), { maxLength: 30 });
  fc.assert(
    fc.property(fc.array(shapes, { minLength: 1, maxLength: 8 }), (updates) => {
      const manager = new RouteManager();
      for (const update of updates) {
        // Names from a small pool, so the same named route comes back, changed or not, at another position.
        const byName = new Map<string, IRouteConfig>();
        for (const [n, s] of update) byName.set(`n${n}`, { ...configOf(s), name: `n${n}` });
        const routes = [...byName.values()];
        manager.commit(manager.prepare(routes));
        const live = manager.table.ports.get(port);
        const fresh = new RouteManager().prepare(routes).table.ports.get(port);
        for (const kind of ['http', 'tcp'] as const) {
          const a = live?.[kind];
          const b = fresh?.[kind];
          if ((a === undefined) !== (b === undefined)) throw new Error(`${kind} index present in only one table`);
          if (a === undefined || b === undefined) continue;
          for (const domain of queries.domains) {
            for (const path of queries.paths) {
              for (const ip of queries.ips) {
                if (a.match(domain, path, ip)?.name !== b.match(domain, path, ip)?.name) throw new Error(`${domain} ${path} ${ip} differs`);
              }
            }
          }
        }
      }
      return true;
    }),
    { numRuns: Math.ceil(runs / 3) },
  );
  t.pass();
});

t.test('10,000 routes plus one through SmartProxy.updateRoutes: served, same listener, same compiled routes, reference count +1', async (t) => {
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const listen = await getFreePort();
  const to = (backend: { port: number }) => ({ host: '127.0.0.1', port: backend.port });
  const routes: IRouteConfig[] = Array.from({ length: 10_000 }, (_, i) => ({ name: `r${i}`, match: { ports: listen, domains: `host${i}.test` }, action: { type: 'forward', target: to(a) } }));
  const proxy = await startProxy(t, routes);
  const bound: number[] = [];
  proxy.on('port-bound', ({ port }) => bound.push(port));
  const before = proxyInternals(proxy).routes.table;

  await proxy.updateRoutes([...routes, { name: 'extra', match: { ports: listen, domains: 'extra.test' }, action: { type: 'forward', target: to(b) } }]);
  t.equal((await httpGet(listen, { host: 'extra.test' })).json().name, 'b', 'the added route serves');
  t.equal((await httpGet(listen, { host: 'host7777.test' })).json().name, 'a', 'an old one still does');
  t.same(bound, [], 'the port was not bound again');
  t.equal(proxy.portManager.getPortRefCount(listen), 10_001);
  const after = proxyInternals(proxy).routes.table;
  t.ok(before.routes.every((route, i) => after.routes[i] === route), 'all 10,000 compiled routes reused');

  // An equal, earlier-given route wins over the one added later; a priority beats both.
  await proxy.updateRoutes([
    ...routes,
    { name: 'extra', match: { ports: listen, domains: 'extra.test' }, action: { type: 'forward', target: to(b) } },
    { name: 'shadow', match: { ports: listen, domains: 'host5.test' }, action: { type: 'forward', target: to(b) } },
  ]);
  t.equal((await httpGet(listen, { host: 'host5.test' })).json().name, 'a', 'the route given first wins a tie');
  await proxy.updateRoutes([...routes, { name: 'shadow', priority: 1, match: { ports: listen, domains: 'host5.test' }, action: { type: 'forward', target: to(b) } }]);
  t.equal((await httpGet(listen, { host: 'host5.test' })).json().name, 'b', 'a higher priority wins');
  t.equal((await httpGet(listen, { host: 'extra.test' })).status, 404, 'the removed route no longer serves');
  t.ok(after.routes.find((r) => r.name === 'extra')!.state.retired, 'and is retired');
  t.equal(proxy.portManager.getPortRefCount(listen), 10_001);
});
