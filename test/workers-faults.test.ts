// The workers option, faults: a worker killed with SIGKILL is replaced
// within 2 s with the current routes while the others keep the port
// served; a control plane killed with SIGKILL takes its workers with it.
import t from 'tap';
import type { IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { delay, eventually } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { startProxyProcess } from './helpers/proxy-process.js';
import { getStatus, isAlive, startWorkerProxy, workerCounters, workerPids } from './helpers/workers.js';

function route(port: number, target: number): IRouteConfig {
  return { name: 'app', match: { ports: port, path: '/*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}


t.test('kill -9 of a worker: replaced within 2 s, requests keep succeeding', { timeout: 60_000 }, async (t) => {
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [route(port, app.port)]);
  const [victim, survivor] = (await workerCounters(proxy)).map((w) => w.pid) as [number, number];
  const statuses: number[] = [];
  let running = true;
  const load = (async () => {
    while (running) statuses.push(await getStatus(port));
  })();
  await delay(200);
  const killedAt = Date.now();
  const seenBefore = statuses.length;
  process.kill(victim, 'SIGKILL');
  const replaced = await eventually(() => {
    const pids = (proxy.getMetrics().workers ?? []).map((w) => w.pid);
    return pids.length === 2 && !pids.includes(victim);
  }, 2000);
  const took = Date.now() - killedAt;
  t.ok(replaced, `a replacement worker serves within 2 s (took ${took} ms)`);
  await delay(300);
  running = false;
  await load;
  const during = statuses.slice(seenBefore);
  const failed = during.filter((s) => s !== 200).length;
  // Only a request the dead worker was serving at the kill can fail; new connections go to a live worker.
  t.ok(failed <= 1, `${during.length - failed} of ${during.length} requests after the kill succeeded`);
  t.ok(proxy.getMetrics().workers!.some((w) => w.pid === survivor), 'the surviving worker kept serving');
  const after = await Promise.all(Array.from({ length: 10 }, () => getStatus(port)));
  t.same(after, Array(10).fill(200), 'the replacement serves the current routes');
  t.notOk(isAlive(victim), 'the killed worker is gone');
});

t.test('kill -9 of the control plane takes its workers with it', { timeout: 60_000 }, async (t) => {
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const proxy = await startProxyProcess(t, [route(port, app.port)], { workers: 2 });
  t.equal(await getStatus(port), 200, 'the group serves');
  const workers = workerPids(proxy.child.pid!);
  t.equal(workers.length, 2, 'two worker processes under the control plane');
  t.teardown(() => workers.filter(isAlive).forEach((pid) => process.kill(pid, 'SIGKILL')));
  proxy.child.kill('SIGKILL');
  t.ok(await eventually(() => workers.every((pid) => !isAlive(pid)), 3000), 'every worker exits when its control plane dies');
});
