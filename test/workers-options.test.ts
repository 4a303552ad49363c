// The workers option, live options and logs: updateOptions() reaches every
// worker, and what a worker logs reaches the user's logger, tagged with the
// worker's pid.
import t from 'tap';
import http from 'node:http';
import { pino } from 'pino';
import { startHttpBackend } from './helpers/backends.js';
import { eventually } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { startWorkerProxy } from './helpers/workers.js';

function get(port: number, headerBytes: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'w.test', 'x-pad': 'a'.repeat(headerBytes) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

t.test('updateOptions() reaches every worker, and worker logs reach the user logger', { timeout: 60_000 }, async (t) => {
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const lines: { msg: string; worker?: number; level: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; worker?: number; level: number }) });
  const proxy = await startWorkerProxy(t, [{ name: 'app', match: { ports: port, path: '/*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: app.port } } }], { logger });
  t.same(await Promise.all([get(port, 2000), get(port, 2000)]), [200, 200], 'a 2 kB header passes the default limit on both workers');
  proxy.updateOptions({ limits: { maxHeaderBytes: 1024 } });
  // updateOptions() returns at once; the workers apply it within an IPC round trip.
  const applied = await eventually(async () => (await Promise.all([get(port, 2000), get(port, 2000)])).every((s) => s === 431), 3000);
  t.ok(applied, 'both workers answer 431 under the new limit');
  const pids = new Set((proxy.getMetrics().workers ?? []).map((w) => w.pid));
  t.ok(await eventually(() => lines.some((l) => l.msg.startsWith('limit reached: maxHeaderBytes') && pids.has(l.worker ?? -1)), 3000), "a worker's warning reached the user logger with its pid");
  t.notOk(lines.some((l) => l.level < 40), 'the user logger level (warn) still filters');
});
