// The access log's cost (issue 17): keep-alive requests per second through
// smartproxy with `accessLog: true` (pino's async destination, stdout to a
// file) against the same proxy with it off, in interleaved rounds.
// Goal: on ≥ 0.9 × off. Usage, after `npm run build`:
//   node bench/access-log.mjs [--rounds 5] [--seconds 5] [--connections 50]
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const rounds = arg('rounds', 5);
const seconds = arg('seconds', 5);
const connections = arg('connections', 50);
const here = new URL('.', import.meta.url).pathname;
const dist = join(here, '..', 'dist', 'index.js');
const tmp = mkdtempSync(join(tmpdir(), 'access-log-bench-'));

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const waitFor = async (port) => {
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('curl', ['-s', '-o', '/dev/null', '-H', 'Host: b.test', `http://127.0.0.1:${port}/`]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing on ${port}`);
};

const backendPort = await freePort();
const backend = spawn(process.execPath, [join(here, 'servers/backend.mjs'), String(backendPort)], { stdio: 'ignore' });
await waitFor(backendPort);

async function startProxy(accessLog) {
  const port = await freePort();
  const script = join(tmp, `proxy-${accessLog}.mjs`);
  writeFileSync(
    script,
    `const { SmartProxy } = await import(${JSON.stringify(dist)});
     const proxy = new SmartProxy({ host: '127.0.0.1', logLevel: 'warn', accessLog: ${accessLog},
       routes: [{ name: 'http', match: { ports: ${port}, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: ${backendPort} } } }] });
     await proxy.start();
     process.on('SIGTERM', () => proxy.stop({ drainTimeoutMs: 100 }).finally(() => process.exit(0)));`,
  );
  const log = join(tmp, `stdout-${accessLog}.log`);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', openSync(log, 'w'), 'inherit'] });
  await waitFor(port);
  return { port, child, log };
}

function wrk(port) {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-H', 'Host: b.test', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
}

const off = await startProxy(false);
const on = await startProxy(true);
const results = { off: [], on: [] };
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so a machine getting busier mid-round hurts both alike.
  const order = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
  for (const which of order) results[which].push(wrk(which === 'off' ? off.port : on.port));
  process.stderr.write(`round ${r + 1}: off ${results.off.at(-1).toFixed(0)} req/s, on ${results.on.at(-1).toFixed(0)} req/s\n`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = median(results.on) / median(results.off);
for (const p of [off, on, { child: backend }]) p.child.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 300));
console.log(`keep-alive, ${connections} connections, ${rounds} × ${seconds} s: off ${median(results.off).toFixed(0)} req/s, on ${median(results.on).toFixed(0)} req/s, ratio ${ratio.toFixed(3)} (goal ≥ 0.9); access log written: ${statSync(on.log).size} bytes`);
rmSync(tmp, { recursive: true, force: true });
