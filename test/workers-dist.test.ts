// The workers option as a user of the package runs it: plain node, the
// compiled dist/ (npm test builds it first), no tsx anywhere. The worker
// entry is found beside the compiled control plane.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

const dist = join(import.meta.dirname, '..', 'dist', 'index.js');

t.test('dist/: two workers serve a request under plain node, and stop() ends them', { skip: existsSync(dist) ? false : 'dist/ not built (npm test builds it)', timeout: 60_000 }, async (t) => {
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const script = `
    const { SmartProxy } = await import(${JSON.stringify(pathToFileURL(dist).href)});
    const http = await import('node:http');
    const proxy = new SmartProxy({ host: '127.0.0.1', logLevel: 'silent', workers: 2,
      routes: [{ name: 'app', match: { ports: ${port}, path: '/*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: ${app.port} } } }] });
    await proxy.start();
    const get = () => new Promise((resolve) => http.get({ host: '127.0.0.1', port: ${port}, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', () => resolve(0)));
    const statuses = [await get(), await get()];
    await new Promise((resolve) => setTimeout(resolve, 400));
    const workers = proxy.getMetrics().workers.length;
    await proxy.stop({ drainTimeoutMs: 200 });
    console.log(JSON.stringify({ statuses, workers }));
  `;
  const output = await new Promise<string>((resolve, reject) => {
    // The script exits on its own only if stop() left no worker behind (a live child keeps it waiting).
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
  t.same(JSON.parse(output.trim()), { statuses: [200, 200], workers: 2 }, 'both requests answered by a group of two workers; the process then exited');
});
