// Scenario 8, HTTP/2 to clients (issue 16), with h2load from Debian's
// nghttp2-client (installed with apt-get when missing and we are root):
//   8a. small responses over h2, smartproxy vs nginx `http2` (req/s, server CPU per request)
//   8b. the same load over HTTP/1.1 on smartproxy's TLS route (CPU per request to compare with)
//   8c. 1 MiB responses over h2 (MB/s)
// Targets: smartproxy h2 ≥ 0.7× nginx h2 req/s; CPU per request over h2 ≤ 1.3× our
// HTTP/1.1 path; 0 errors over `h2load -n 20000 -c 20 -m 10`.
// Standalone: node h2.mjs [--quick]   (after npm run build; prints a table, writes nothing)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { contenders, startBackend } from './lib/contenders.mjs';
import { treeCpu } from './lib/cpu-monitor.mjs';
import { freePorts, pinningPlan, runToEnd, start, stop, stopAll, waitForPort, which } from './lib/procs.mjs';

/** Makes sure h2load is there: apt-get install nghttp2-client when missing and running as root. */
export function ensureH2load(log) {
  if (which('h2load')) return true;
  if (process.getuid?.() !== 0) {
    log('h2load missing: apt-get install -y nghttp2-client');
    return false;
  }
  log('h2load missing: installing nghttp2-client with apt-get');
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'nghttp2-client'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (error) {
    log(`apt-get install nghttp2-client failed: ${error.message}`);
  }
  return which('h2load') !== undefined;
}

/** nginx with `http2` on a TLS port, one worker, the same upstream settings as scenario 1's nginx. */
function nginxH2Config(dir, port, ctx) {
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `${user}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  upstream backend { server 127.0.0.1:${ctx.backend.http}; keepalive 64; keepalive_requests 1000000; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_max_temp_file_size 0;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:${port} ssl http2;
    server_name ${ctx.domain};
    ssl_certificate ${ctx.cert};
    ssl_certificate_key ${ctx.key};
    location / { proxy_pass http://backend; }
  }
}
`;
}

async function startNginxH2(ctx) {
  if (!which('nginx')) return undefined;
  const [port] = await freePorts(1);
  const dir = join(ctx.tmp, `nginx-h2-${port}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxH2Config(dir, port, ctx));
  const child = start(ctx.pin.server, [which('nginx'), '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
  await waitForPort(port, child);
  return { port, pid: child.pid, stop: () => stop(child) };
}

/** One h2load run; returns req/s, MB/s, errors and the server process's CPU in µs per request. */
async function h2load(ctx, { port, path, requests, clients, streams, h1 = false, pid }) {
  const argv = ['h2load', ...(h1 ? ['--h1'] : []), '-n', String(requests), '-c', String(clients), '-m', String(streams), '--connect-to', `127.0.0.1:${port}`, `https://${ctx.domain}:${port}${path}`];
  const started = performance.now();
  const cpu = treeCpu([pid]);
  const out = await runToEnd(ctx.pin.load, argv);
  const seconds = (performance.now() - started) / 1000;
  const cpuPct = cpu();
  const rps = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  const mbps = parseRate(/req\/s, ([\d.]+)([KMG]?)B\/s/.exec(out));
  const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const failed = m ? Number(m[2]) + Number(m[3]) + Number(m[4]) : requests;
  const status = /status codes: (\d+) 2xx/.exec(out);
  const non2xx = status ? requests - Number(status[1]) : 0;
  const cpuUsPerRequest = ((cpuPct / 100) * seconds * 1e6) / requests;
  return { rps, mbps, errors: failed + Math.max(0, non2xx), cpuPct, cpuUsPerRequest, command: argv.join(' ').replaceAll(String(port), '<port>') };
}

function parseRate(m) {
  if (!m) return NaN;
  const scale = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 }[m[2]];
  return Number(m[1]) * scale;
}

/**
 * Runs scenario 8 against a started backend (ctx.backend) and returns rows
 * for run.mjs's table: { scenario, contender, unit, value, errors, note }.
 */
export async function h2Scenario({ ctx, log, quick = false, rounds = 1 }) {
  if (!ensureH2load(log)) return [];
  const small = { id: 'h2-small', title: '8a. HTTP/2, 12 B body, h2load -c 20 -m 10 (req/s)', unit: 'req/s' };
  const h1 = { id: 'h2-h1', title: '8b. HTTP/1.1 over TLS, 12 B body, h2load --h1 -c 20 (req/s)', unit: 'req/s' };
  const big = { id: 'h2-1mib', title: '8c. HTTP/2, 1 MiB body, h2load -c 4 -m 2 (MB/s)', unit: 'MB/s' };
  const requests = quick ? 5000 : 20000;
  const rows = [];
  const proxyContender = contenders.find((c) => c.name === 'smartproxy');
  const proxy = await proxyContender.start(ctx);
  const nginx = await startNginxH2(ctx).catch((error) => log(`nginx h2: failed to start: ${error.message}`));
  try {
    const targets = [{ name: 'smartproxy', port: proxy.ports.tls, pid: proxy.child.pid }, ...(nginx ? [{ name: 'nginx', port: nginx.port, pid: nginx.pid }] : [])];
    // Warm-up (not recorded): JIT, upstream pools.
    for (const t of targets) await h2load(ctx, { ...t, path: '/', requests: 2000, clients: 20, streams: 10 });
    for (let round = 0; round < rounds; round++) {
      for (const t of targets) {
        const r = await h2load(ctx, { ...t, path: '/', requests, clients: 20, streams: 10 });
        log(`  8a ${t.name.padEnd(11)} ${r.rps.toFixed(0).padStart(8)} req/s  CPU ${r.cpuUsPerRequest.toFixed(1)} µs/req  errors ${r.errors}`);
        rows.push({ scenario: small, contender: t.name, unit: 'req/s', value: r.rps, errors: r.errors, server: r.cpuPct, note: `${r.cpuUsPerRequest.toFixed(1)} µs CPU/request`, command: r.command });
      }
      const s = targets[0];
      const r1 = await h2load(ctx, { ...s, path: '/', requests, clients: 20, streams: 1, h1: true });
      log(`  8b smartproxy  ${r1.rps.toFixed(0).padStart(8)} req/s  CPU ${r1.cpuUsPerRequest.toFixed(1)} µs/req  errors ${r1.errors}`);
      rows.push({ scenario: h1, contender: 'smartproxy', unit: 'req/s', value: r1.rps, errors: r1.errors, server: r1.cpuPct, note: `${r1.cpuUsPerRequest.toFixed(1)} µs CPU/request`, command: r1.command });
      for (const t of targets) {
        const r = await h2load(ctx, { ...t, path: '/1m', requests: quick ? 100 : 400, clients: 4, streams: 2 });
        log(`  8c ${t.name.padEnd(11)} ${r.mbps.toFixed(0).padStart(8)} MB/s  errors ${r.errors}`);
        rows.push({ scenario: big, contender: t.name, unit: 'MB/s', value: r.mbps, errors: r.errors, server: r.cpuPct, command: r.command });
      }
    }
  } finally {
    await proxy.stop();
    await nginx?.stop();
  }
  return rows;
}

// Standalone run: its own temp dir, certificate and backend; a table on stdout.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const log = (...m) => console.error(...m);
  const tmp = mkdtempSync(join(os.tmpdir(), 'smartproxy-h2-bench-'));
  try {
    const { createSelfSignedCertificate } = await import(pathToFileURL(join(here, '../dist/index.js')).href);
    const domain = 'bench.local';
    const pair = createSelfSignedCertificate({ domains: [domain], ips: ['127.0.0.1'] });
    const ctx = { tmp, pin: pinningPlan(), domain, key: join(tmp, 'key.pem'), cert: join(tmp, 'cert.pem') };
    writeFileSync(ctx.key, pair.key, { mode: 0o600 });
    writeFileSync(ctx.cert, pair.cert);
    const b = await startBackend(ctx);
    ctx.backend = { http: b.http, https: b.https, child: b.child };
    const rows = await h2Scenario({ ctx, log, quick: process.argv.includes('--quick'), rounds: process.argv.includes('--quick') ? 1 : 3 });
    console.log('| scenario | contender | value | errors | note |\n| --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.scenario.title} | ${r.contender} | ${r.value.toFixed(1)} ${r.unit} | ${r.errors} | ${r.note ?? ''} |`);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}
