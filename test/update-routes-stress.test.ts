// Many updateRoutes() calls at once: they apply one at a time in call order,
// the last one wins, ports never collide with themselves, and the reference
// counts always equal the routes per port.
import t from 'tap';
import { PortInUseError, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { httpGet, silentLogger, startHttpBackend } from './helpers/backends.js';
import { holdPort, probeBind, quietPorts } from './helpers/port-probe.js';
import { prng } from './helpers/prng.js';


interface Call {
  routes: IRouteConfig[];
  refs: Map<number, number>;
}

/** A random route set over a random subset of `ports`: 1-3 routes per chosen port, some spanning two ports. */
function randomCall(random: () => number, ports: number[], call: number, backendPort: number): Call {
  const routes: IRouteConfig[] = [];
  const refs = new Map<number, number>();
  const chosen = ports.filter(() => random() < 0.5);
  chosen.forEach((port, i) => {
    const count = 1 + Math.floor(random() * 3);
    for (let r = 0; r < count; r++) {
      const next = chosen[i + 1];
      const span = r === 0 && next !== undefined && random() < 0.2 ? [port, next] : [port];
      for (const p of span) refs.set(p, (refs.get(p) ?? 0) + 1);
      routes.push({
        name: `c${call}-p${port}-r${r}`,
        match: { ports: span, domains: `r${r}.p${port}.test` },
        action: { type: 'forward', target: { host: '127.0.0.1', port: backendPort } },
      });
    }
  });
  return { routes, refs };
}

function sorted(ports: Iterable<number>): number[] {
  return [...ports].sort((a, b) => a - b);
}

/** A started proxy that records, for each applied update, its ports and the reference count of each of `watched`. */
async function newProxy(t: { teardown(fn: () => unknown): void }, watched: number[] = []) {
  const backend = await startHttpBackend('backend');
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [] });
  await proxy.start();
  const applied: number[][] = [];
  const counts: number[][] = [];
  proxy.on('routes-updated', ({ ports }) => {
    applied.push(ports);
    counts.push(watched.map((port) => proxy.portManager.getPortRefCount(port)));
  });
  t.teardown(async () => {
    await proxy.stop({ drainTimeoutMs: 500 });
    await backend.close();
  });
  return { proxy, backend, applied, counts };
}

t.test('500 updateRoutes() calls fired at once over random subsets of 30 ports', async (t) => {
  const seed = Number(process.env.STRESS_SEED ?? 20240611);
  t.comment(`seed ${seed} (STRESS_SEED replays it)`);
  const random = prng(seed);
  const ports = await quietPorts(30);
  const { proxy, backend, applied, counts } = await newProxy(t, ports);

  const calls = Array.from({ length: 500 }, (_, i) => randomCall(random, ports, i, backend.port));
  const results = await Promise.allSettled(calls.map((call) => proxy.updateRoutes(call.routes)));

  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`call ${i}: ${String((r.reason as Error).message)}`] : []));
  t.same(failures, [], 'every call settled successfully (no EADDRINUSE)');
  t.same(applied, calls.map((call) => sorted(call.refs.keys())), 'applied in call order');
  t.same(counts, calls.map((call) => ports.map((port) => call.refs.get(port) ?? 0)), 'after every call, references equal routes per port');

  const last = calls.at(-1)!;
  t.same(proxy.getListeningPorts(), sorted(last.refs.keys()), 'listening ports equal the last call');
  t.same(proxy.getRoutes().map((r) => r.name), last.routes.map((r) => r.name), 'routes equal the last call');
  for (const port of ports) {
    t.equal(proxy.portManager.getPortRefCount(port), last.refs.get(port) ?? 0, `port ${port}: references equal routes`);
  }
  for (const port of ports) {
    if (last.refs.has(port)) continue;
    t.equal(await probeBind(port), undefined, `port ${port}, unused at the end, is free`);
  }
  const [port] = sorted(last.refs.keys());
  if (port !== undefined) t.equal((await httpGet(port, { host: `r0.p${port}.test` })).status, 200, 'the final table serves');
});

t.test('5,000 routes added and removed at once', async (t) => {
  const ports = await quietPorts(5);
  const { proxy, backend } = await newProxy(t);
  const keep: IRouteConfig = {
    name: 'keep',
    match: { ports: ports[0]!, domains: 'keep.test' },
    action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } },
  };
  await proxy.updateRoutes([keep]);

  const many: IRouteConfig[] = Array.from({ length: 5000 }, (_, i) => ({
    name: `bulk-${i}`,
    match: { ports: ports[i % ports.length]!, domains: [`bulk-${i}.test`, `*.bulk-${i}.test`] },
    action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } },
  }));
  await proxy.updateRoutes([keep, ...many]);
  t.same(proxy.getListeningPorts(), sorted(ports));
  t.equal(proxy.portManager.getPortRefCount(ports[0]!), 1001);
  for (const port of ports.slice(1)) t.equal(proxy.portManager.getPortRefCount(port), 1000);
  t.equal((await httpGet(ports[3]!, { host: 'x.bulk-4998.test' })).json().name, 'backend', 'a bulk route serves');

  await proxy.updateRoutes([keep]);
  t.same(proxy.getListeningPorts(), [ports[0]!]);
  t.equal(proxy.portManager.getPortRefCount(ports[0]!), 1);
  for (const port of ports.slice(1)) t.equal(await probeBind(port), undefined, `port ${port} is free again`);
  t.equal((await httpGet(ports[0]!, { host: 'keep.test' })).status, 200);
  t.equal((await httpGet(ports[0]!, { host: 'bulk-0.test' })).status, 404);
});

t.test('a port conflict in the middle of a burst fails only that call', async (t) => {
  const random = prng(7);
  const [held, ...ports] = await quietPorts(11);
  const holder = await holdPort(held!);
  t.teardown(() => holder.close());
  const { proxy, backend, applied } = await newProxy(t);

  const calls = Array.from({ length: 60 }, (_, i) => randomCall(random, ports, i, backend.port));
  const bad = 30;
  calls[bad]!.routes.push({ name: 'held', match: { ports: held!, domains: 'held.test' }, action: { type: 'block' } });
  const results = await Promise.allSettled(calls.map((call) => proxy.updateRoutes(call.routes)));

  results.forEach((r, i) => {
    if (i === bad) {
      t.equal(r.status, 'rejected', `call ${i} rejects`);
      if (r.status === 'rejected') {
        t.type(r.reason, PortInUseError);
        t.match(r.reason, { code: 'EADDRINUSE', port: held });
      }
    } else if (r.status === 'rejected') {
      t.fail(`call ${i} rejected: ${String(r.reason)}`);
    }
  });
  t.equal(applied.length, calls.length - 1, 'every other call applied');
  t.same(applied, calls.filter((_, i) => i !== bad).map((call) => sorted(call.refs.keys())), 'in call order');
  const last = calls.at(-1)!;
  t.same(proxy.getListeningPorts(), sorted(last.refs.keys()));
  for (const port of ports) t.equal(proxy.portManager.getPortRefCount(port), last.refs.get(port) ?? 0);
  t.notOk(proxy.portManager.isPortBoundBySmartProxy(held!));
});
