// smartproxy as a contender, in its own process so it never shares an event
// loop with the load generator. Usage: node smartproxy.mjs <config.json>
// config: { backendPort, backendTlsPort, httpPort, tlsPort, passthroughPort, tcpPort, key, cert, domain }
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

// The runner passes its private snapshot of dist/ (see lib/dist.mjs).
const { SmartProxy } = await import(process.env.SMARTPROXY_DIST ? pathToFileURL(process.env.SMARTPROXY_DIST).href : '../../dist/index.js');

const c = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const backend = { host: '127.0.0.1', port: c.backendPort };
const certificate = { key: readFileSync(c.key, 'utf8'), cert: readFileSync(c.cert, 'utf8') };

// --workers N (or SMARTPROXY_BENCH_WORKERS, as run.mjs --workers sets it): the same proxy on N worker processes.
const flag = process.argv.indexOf('--workers');
const workers = flag > 0 ? Number(process.argv[flag + 1]) : process.env.SMARTPROXY_BENCH_WORKERS ? Number(process.env.SMARTPROXY_BENCH_WORKERS) : undefined;

// One port per scenario, so each listener runs exactly one data path.
const proxy = new SmartProxy({
  host: '127.0.0.1',
  workers,
  routes: [
    { name: 'http', match: { ports: c.httpPort, domains: c.domain }, action: { type: 'forward', target: backend } },
    {
      name: 'tls-terminate',
      match: { ports: c.tlsPort, domains: c.domain },
      action: { type: 'forward', target: backend, tls: { mode: 'terminate', certificate } },
    },
    {
      name: 'tls-passthrough',
      match: { ports: c.passthroughPort },
      action: { type: 'forward', target: { host: '127.0.0.1', port: c.backendTlsPort }, tls: { mode: 'passthrough' } },
    },
    { name: 'tcp', match: { ports: c.tcpPort }, action: { type: 'forward', target: backend } },
  ],
});
await proxy.start();

// With an IPC channel (the long-lived scenario), the runner can read this
// process's memory and take CPU profiles of chosen intervals. Reading only:
// nothing here changes what the proxy does, and without IPC none of it exists.
if (process.send) {
  const { control } = await import('./control.mjs');
  control(process);
}

// A clean exit (not a signal death) is what makes --cpu-prof write its profile.
process.on('SIGTERM', () => {
  setTimeout(() => process.exit(0), 1000).unref();
  proxy.stop({ drainTimeoutMs: 100 }).finally(() => process.exit(0));
});
