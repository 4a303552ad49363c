// The graph of 10,000 routes costs well under the update that builds its
// table. Figures are printed; the assertion is a generous ratio so a busy
// machine cannot fail it. The behaviour is asserted exactly: every planted
// duplicate is found, nothing else is.
import t from 'tap';
import { pino } from 'pino';
import { SmartProxy, type IRouteConfig } from '../ts/index.js';
import { buildRouteGraph, idlePorts } from '../ts/routing/route-graph.js';
import { RouteTable } from '../ts/routing/route-table.js';
import { getFreePort } from './helpers/free-port.js';
import { proxyInternals } from '../ts/internals.js';

const target = { host: '127.0.0.1', port: 9 };

/** Exact domains, domains with paths, TLS wildcards, multi-domain routes with clientIp, a catch-all, and `duplicates` copies of earlier routes. */
function routes(count: number, ports: [number, number], duplicates: number, changed = ''): IRouteConfig[] {
  const list: IRouteConfig[] = [];
  for (let i = 0; i < count - duplicates - 1; i++) {
    const kind = i % 4;
    const match: IRouteConfig['match'] =
      kind === 0 ? { ports: ports[0], domains: `site-${i}.example.com` }
      : kind === 1 ? { ports: ports[0], domains: `app-${i}.example.com`, path: `/api/v${i % 7}/*` }
      : kind === 2 ? { ports: ports[1], domains: `*.tenant-${i}.example.com` }
      : { ports: ports[0], domains: [`a-${i}.example.com`, `b-${i}.example.com`], clientIp: ['10.0.0.0/8'] };
    list.push({ name: `r${i}${i === 5 ? changed : ''}`, match, action: kind === 2 ? { type: 'forward', target, tls: { mode: 'passthrough' } } : { type: 'forward', target } });
  }
  for (let i = 0; i < duplicates; i++) list.push({ ...list[i * 7]!, name: `copy${i}` });
  list.push({ name: 'catch-all', match: { ports: ports[0], path: '/*' }, action: { type: 'block' } });
  return list;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  return values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

t.test('10,000 routes: the graph costs well under the update, and finds exactly the planted duplicates', async (t) => {
  const ports: [number, number] = [await getFreePort(), await getFreePort()];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: pino({ level: 'silent' }), routes: routes(10_000, ports, 100) });
  await proxy.start();
  t.teardown(() => proxy.stop());

  // Interleaved, so a burst of load on the machine hits both sides alike.
  const updates: number[] = [];
  const cold: number[] = [];
  const first: number[] = [];
  const again: number[] = [];
  for (let run = 0; run < 7; run++) {
    // Let the previous update's log (computed just after it resolves) run outside the measurement.
    await new Promise((resolve) => setTimeout(resolve, 20));
    let start = process.hrtime.bigint();
    await proxy.updateRoutes(routes(10_000, ports, 100, `-changed-${run}`));
    updates.push(ms(start));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // A fresh table of the same routes: no warnings cached for it yet.
    const table = new RouteTable(proxyInternals(proxy).routes.table.routes);
    start = process.hrtime.bigint();
    buildRouteGraph(table, idlePorts(table));
    cold.push(ms(start));
    // The update's log has computed the live table's warnings; the route order is sorted on the first call.
    start = process.hrtime.bigint();
    proxy.getRouteGraph();
    first.push(ms(start));
    start = process.hrtime.bigint();
    proxy.getRouteGraph();
    again.push(ms(start));
  }
  const update = median(updates);
  const graph = median(cold);
  t.comment(`updateRoutes (one route changed in 10,000): ${update.toFixed(1)} ms; graph of a new table: ${graph.toFixed(1)} ms; getRouteGraph(): ${median(first).toFixed(1)} ms first, ${median(again).toFixed(1)} ms again`);
  t.ok(graph < update * 3, `graph ${graph.toFixed(1)} ms against update ${update.toFixed(1)} ms (a pairwise comparison would take seconds)`);

  const graphNow = proxy.getRouteGraph();
  t.same(graphNow.ports.map((p) => [p.port, p.mode, p.routes.length]), [[ports[0], 'http', 7_500], [ports[1], 'tls', 2_500]].sort((a, b) => (a[0] as number) - (b[0] as number)));
  const shadowed = graphNow.warnings.filter((w) => w.kind === 'shadowed');
  t.equal(shadowed.length, 100, 'every copy is flagged');
  t.ok(shadowed.every((w) => w.route.startsWith('copy') && w.by?.startsWith('r')), 'each copy, by the route it copies');
  t.equal(graphNow.warnings.length, 100, 'and nothing else');
});
