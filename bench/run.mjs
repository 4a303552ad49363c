#!/usr/bin/env node
// End-to-end benchmark: smartproxy against the direct backend, http-proxy,
// nginx and haproxy, all on 127.0.0.1. See README.md for what each scenario
// measures and how far to trust it.
//
//   node run.mjs [--quick] [--rounds N] [--seconds S] [--only a,b] [--contenders a,b]
//                [--loadgen wrk|autocannon] [--idle N] [--soak-seconds S] [--profile] [--no-write] [--workers N]
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { contenders, startBackend } from './lib/contenders.mjs';
import { foreignCpu, treeCpu } from './lib/cpu-monitor.mjs';
import { snapshotDist } from './lib/dist.mjs';
import { topSelfTime } from './lib/cpuprofile.mjs';
import { longLivedScenario } from './lib/longlived.mjs';
import { describe, load, pickLoadGenerator } from './lib/loadgen.mjs';
import { freePorts, hardNofile, pinningPlan, runToEnd, sleep, start, stop, stopAll, treeRssKiB } from './lib/procs.mjs';
import { fmt, median, short } from './lib/stats.mjs';
import { checkTargets, machineInfo, renderMarkdown } from './lib/report.mjs';
import { h2Scenario } from './h2.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    contenders: { type: 'string' },
    loadgen: { type: 'string' },
    idle: { type: 'string' },
    'soak-seconds': { type: 'string' },
    'soak-gc': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    'wait-quiet': { type: 'string' },
    // Adds a row "smartproxy-workers<N>": the same proxy with the workers option, next to the single-process rows.
    workers: { type: 'string' },
  },
});

const only = args.only ? new Set(args.only.split(',')) : undefined;
const wanted = (id) => (only ? only.has(id) : id !== 'profile');
const settings = args.quick
  ? { mode: 'quick', rounds: 1, seconds: 1, warmupSeconds: 1, tlsMs: 400, idle: 2000, idleSettleMs: 400, lookupMs: 100, updates: 6, sizes: [10, 1000, 10000], soakSeconds: 20 }
  : { mode: 'full', rounds: 5, seconds: 3, warmupSeconds: 2, tlsMs: 2000, idle: 10000, idleSettleMs: 1500, lookupMs: 500, updates: 20, sizes: [10, 1000, 10000], soakSeconds: 300 };
if (args.rounds) settings.rounds = Number(args.rounds);
if (args.seconds) settings.seconds = Number(args.seconds);
if (args.idle) settings.idle = Number(args.idle);
if (args['soak-seconds']) settings.soakSeconds = Number(args['soak-seconds']);
// Before each measurement, wait up to this long for other processes to go quiet (0: never wait).
settings.waitQuietSeconds = args['wait-quiet'] !== undefined ? Number(args['wait-quiet']) : args.quick ? 0 : 20;
// A measurement disturbed by other processes is repeated this many times at most.
settings.retries = settings.waitQuietSeconds ? 2 : 0;
// Waiting for a quiet machine stops after this much in total, so a busy machine cannot stretch a run without end.
const waitBudgetMs = 600_000;
let waitedMs = 0;

const domain = 'bench.local';
/** Foreign CPU above this share of one core is worth a note next to the number. */
const foreignWarnPct = 10;
const pin = pinningPlan();
const gen = pickLoadGenerator(args.loadgen);
const log = (...m) => console.error(...m);
const t0 = Date.now();
/** Section headers carry the elapsed time, so a slow phase shows. */
const section = (title) => log(`\n[${((Date.now() - t0) / 1000).toFixed(0)} s] ${title}`);

if (!existsSync(join(here, '../dist/index.js'))) {
  log('dist/index.js not found: run npm run build in the repository root first (npm run bench does it)');
  process.exit(1);
}
if (!gen) {
  log('no load generator: apt-get install -y wrk   (or: cd bench && npm install, for autocannon)');
  process.exit(1);
}

const tmp = mkdtempSync(join(os.tmpdir(), 'smartproxy-bench-'));
const dist = snapshotDist();
const cleanup = async () => {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
  dist.remove();
};
process.on('SIGINT', () => cleanup().finally(() => process.exit(130)));

const results = []; // { scenario, contender, unit, values[], p50[], p99[], errors, note }
const commands = new Map();
const configs = new Map();
const missing = [];
let routeScale;
let profile;
let longLived;

try {
  await main();
} catch (error) {
  log(error);
  process.exitCode = 1;
} finally {
  await cleanup();
}

async function main() {
  const { createSelfSignedCertificate } = await import(pathToFileURL(dist.entry).href);
  const pair = createSelfSignedCertificate({ domains: [domain], ips: ['127.0.0.1'] });
  const ctx = { tmp, pin, domain, dist, key: join(tmp, 'key.pem'), cert: join(tmp, 'cert.pem'), pem: join(tmp, 'both.pem') };
  writeFileSync(ctx.key, pair.key, { mode: 0o600 });
  writeFileSync(ctx.cert, pair.cert);
  writeFileSync(ctx.pem, pair.cert + pair.key, { mode: 0o600 });

  log(`dist/ snapshot ${dist.hash}; mode: ${settings.mode}; load generator: ${gen.name}; pinning: ${pin.applied ? `applied (${pin.why})` : `not applied (${pin.why})`}`);
  const b = await startBackend(ctx);
  ctx.backend = { http: b.http, https: b.https, child: b.child };
  commands.set('backend', 'node servers/backend.mjs <httpPort> <httpsPort> key.pem cert.pem');

  const picked = withWorkers(contenders).filter((c) => !args.contenders || c.name === 'direct' || args.contenders.split(',').includes(c.name.replace(/-workers\d+$/, '')));
  const live = [];
  for (const c of picked) {
    const a = c.available();
    if (!a.ok) {
      missing.push({ contender: c.name, why: a.missing });
      log(`${c.name}: ${a.missing}`);
      continue;
    }
    if (a.noStream) missing.push({ contender: 'nginx (TCP/TLS passthrough)', why: 'missing (apt-get install -y libnginx-mod-stream)' });
    live.push(c);
  }

  const needRunning = ['keepalive', '1mib', 'close', 'tls', 'https', 'passthrough'].some(wanted);
  const running = [];
  if (needRunning) {
    // Started together (they are idle until measured); kept in contender order.
    const started = await Promise.allSettled(live.map(async (c) => {
      const inst = await c.start(ctx);
      await check(inst, c.name);
      return { c, inst };
    }));
    started.forEach((s, i) => {
      if (s.status === 'fulfilled') {
        const { c, inst } = s.value;
        if (inst.command) commands.set(`start ${c.name}`, inst.command);
        if (inst.config) configs.set(c.name, inst.config.replaceAll(tmp, '<tmp>'));
        return running.push(s.value);
      }
      missing.push({ contender: live[i].name, why: `failed to start: ${String(s.reason?.message).split('\n')[0]}` });
      log(`${live[i].name}: failed to start: ${s.reason?.message}`);
    });
  }

  if (wanted('keepalive')) {
    // Warm-up (not recorded) for the Node processes, one at a time so each gets the whole core: JIT, connection pools.
    for (const { inst } of running.filter((r) => r.c.jit)) {
      await load(gen, pin, { url: url(inst.ports.http, '/'), connections: 64, seconds: settings.warmupSeconds, headers: { Host: domain } }).catch(() => {});
    }
    await loadScenario(running, { id: 'keepalive', title: '1. HTTP/1.1 keep-alive, 12 B body (req/s)', port: 'http', unit: 'req/s', connections: 64, path: '/', headers: { Host: domain } });
  }
  if (wanted('1mib')) {
    await loadScenario(running, { id: '1mib', title: '2. HTTP/1.1 keep-alive, 1 MiB body (MB/s)', port: 'http', unit: 'MB/s', connections: 8, path: '/1m', headers: { Host: domain } });
  }
  if (wanted('close')) {
    await loadScenario(running, { id: 'close', title: '3. New connection per request (req/s)', port: 'http', unit: 'req/s', connections: 16, path: '/', headers: { Host: domain, Connection: 'close' } });
  }
  if (wanted('tls')) await tlsScenario(running, ctx);
  if (wanted('https')) {
    // The terminated-TLS path is other code than plain HTTP: warm it up too (not recorded).
    for (const { inst } of running.filter((r) => r.c.jit && r.inst.ports.tls !== null)) {
      await load(gen, pin, { url: url(inst.ports.tls, '/', 'https'), servername: domain, connections: 64, seconds: settings.warmupSeconds, headers: { Host: domain } }).catch(() => {});
    }
    await loadScenario(running, { id: 'https', title: '4c. HTTPS keep-alive, 12 B body (req/s)', port: 'tls', scheme: 'https', servername: domain, unit: 'req/s', connections: 64, path: '/', headers: { Host: domain } });
    await loadScenario(running, { id: 'https-1mib', title: '4d. HTTPS keep-alive, 1 MiB body (MB/s)', port: 'tls', scheme: 'https', servername: domain, unit: 'MB/s', connections: 8, path: '/1m', headers: { Host: domain } });
  }
  if (wanted('passthrough')) {
    await loadScenario(running, { id: 'tcp', title: '5a. TCP passthrough, 1 MiB bodies over HTTP (MB/s)', port: 'tcp', unit: 'MB/s', connections: 8, path: '/1m', headers: { Host: domain } });
    await loadScenario(running, { id: 'tls-pt', title: '5b. TLS passthrough, 1 MiB bodies over HTTPS (MB/s)', port: 'passthrough', scheme: 'https', unit: 'MB/s', connections: 8, path: '/1m', headers: { Host: domain } });
  }
  for (const { inst } of running) await inst.stop();

  if (wanted('idle')) await idleScenario(live, ctx, false);
  if (wanted('idle-tls')) await idleScenario(live.filter((c) => c.name !== 'node-bare'), ctx, true);
  if (wanted('routes') && live.some((c) => c.name === 'smartproxy')) await routeScaleScenario();
  if (wanted('longlived') && live.some((c) => c.name === 'smartproxy')) {
    longLived = await longLivedScenario({ ctx, settings, gen, pin, log, section, commands, waitQuiet, profile: args.profile, gc: args['soak-gc'], outDir: join(here, '.bench-out') });
  }
  // With --only, the profile scenario runs only when named (--only longlived --profile profiles scenario 8 alone).
  if (only ? only.has('profile') : args.profile) await profileScenario(ctx);
  // 9. HTTP/2 to clients (issue 16): h2load against smartproxy and nginx `http2`; see h2.mjs.
  if (wanted('h2')) {
    section('9. HTTP/2 to clients (h2load)');
    for (const row of await h2Scenario({ ctx, log, quick: args.quick, rounds: settings.rounds })) {
      commands.set(row.scenario.title, row.command);
      record(row.scenario, row.contender, row.unit, row.value, { errors: row.errors, server: row.server, note: row.note });
    }
  }

  const md = renderMarkdown({
    settings, gen, pin, machine: { ...machineInfo(gen), distHash: dist.hash }, results, missing, commands, configs, routeScale, profile, longLived,
    contenders: picked.map((c) => ({ name: c.name, note: c.note })),
  });
  console.log(md);
  const targets = checkTargets(results, routeScale, longLived);
  if (targets.length) section('Targets (issue 11)');
  for (const t of targets) log(`  ${(t.ok === undefined ? 'report' : t.ok ? 'met' : 'MISSED').padEnd(6)} ${t.what}: ${t.measured}${t.peer ? ` (${t.peer})` : ''}`);
  if (!args['no-write']) {
    writeFileSync(join(here, 'RESULTS.md'), md + keptSection(join(here, 'RESULTS.md'), '## TLS audit') + keptSection(join(here, 'RESULTS.md'), '## Workers'));
    log(`written to ${join(here, 'RESULTS.md')}`);
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

function url(port, path, scheme = 'http') {
  return `${scheme}://127.0.0.1:${port}${path}`;
}

/** One small request through the contender before any timing: a 404 from a misrouted proxy must not be timed as a success. */
async function check(inst, name) {
  const body = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: inst.ports.http, path: '/', headers: { host: domain }, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`${name}: status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
  if (body !== 'hello world\n') throw new Error(`${name}: unexpected body ${JSON.stringify(body)}`);
}

function record(scenario, contender, unit, value, extra = {}) {
  let r = results.find((x) => x.scenario.id === scenario.id && x.contender === contender);
  if (!r) results.push((r = { scenario, contender, unit, values: [], p50: [], p99: [], foreign: [], server: [], proxy: [], client: [], reused: [], errors: 0, notes: new Set() }));
  r.values.push(value);
  if (extra.foreign !== undefined) r.foreign.push(extra.foreign);
  if (extra.server !== undefined) r.server.push(extra.server);
  if (extra.proxy !== undefined) r.proxy.push(extra.proxy);
  if (extra.client !== undefined) r.client.push(extra.client);
  if (extra.reused !== undefined) r.reused.push(extra.reused);
  if (extra.p50 !== undefined) r.p50.push(extra.p50);
  if (extra.p99 !== undefined) r.p99.push(extra.p99);
  r.errors += extra.errors ?? 0;
  if (extra.note) r.notes.add(extra.note);
  return r;
}

function na(scenario, contender, why) {
  const r = record(scenario, contender, scenario.unit, NaN);
  r.values = [];
  r.notes.add(why);
}

/** Rounds interleaved A B C, A B C, …; the starting contender rotates each round to spread drift. */
function* interleave(list) {
  for (let round = 0; round < settings.rounds; round++) {
    for (let i = 0; i < list.length; i++) yield { round, item: list[(i + round) % list.length] };
  }
}

async function loadScenario(running, s) {
  section(s.title);
  const list = running.filter(({ c, inst }) => {
    // A reference that lacks a mode is left out; a real contender gets an explicit n/a row.
    if (inst.ports[s.port] === null && !c.reference) na(s, c.name, 'no such mode');
    return inst.ports[s.port] !== null;
  });
  for (const { round, item } of interleave(list)) {
    const { c, inst } = item;
    const opts = { url: url(inst.ports[s.port], s.path, s.scheme), servername: s.servername, connections: s.connections, seconds: settings.seconds, headers: s.headers };
    commands.set(s.title, describe(gen, { ...opts, url: url('<port>', s.path, s.scheme) }));
    try {
      const { result: r, server, proxy, foreign } = await measure(inst.pids, () => load(gen, pin, opts));
      const value = s.unit === 'MB/s' ? r.bytesPerSec / 1e6 : r.rps;
      const bad = r.errors + r.non2xx;
      record(s, c.name, s.unit, value, { p50: r.p50Ms, p99: r.p99Ms, errors: bad, foreign, server, proxy, note: r.non2xx ? `${r.non2xx} non-2xx` : undefined });
      log(`  round ${round + 1} ${c.name.padEnd(11)} ${fmt(value).padStart(9)} ${s.unit}  p50 ${short(r.p50Ms)} ms  p99 ${short(r.p99Ms)} ms  server CPU ${fmt(server)}%${proxy !== undefined ? ` (proxy ${fmt(proxy)}%)` : ''}${bad ? `  errors ${bad}` : ''}${foreignNote(foreign)}`);
    } catch (error) {
      record(s, c.name, s.unit, NaN, { note: `failed: ${String(error.message).split('\n')[0]}` }).values.pop();
      log(`  round ${round + 1} ${c.name}: failed: ${error.message}`);
    }
  }
}

async function tlsScenario(running, ctx) {
  const full = { id: 'tls-full', title: '4a. TLS termination, full handshake + 1 request per connection (conn/s)', unit: 'conn/s' };
  const resumed = { id: 'tls-resume', title: '4b. TLS termination, session resumption + 1 request per connection (conn/s)', unit: 'conn/s' };
  section(`4. TLS termination (new connection each, ${settings.tlsMs} ms per run)`);
  const concurrency = 32;
  const pairs = running.filter((r) => r.inst.ports.tls !== null).flatMap((r) => [{ ...r, s: full, resume: false }, { ...r, s: resumed, resume: true }]);
  for (const { round, item } of interleave(pairs)) {
    const { c, inst, s, resume } = item;
    const o = { port: inst.ports.tls, servername: domain, ca: ctx.cert, concurrency, ms: settings.tlsMs, resume };
    commands.set(s.title, `node clients/tls-handshakes.mjs '${JSON.stringify({ ...o, port: '<port>', ca: 'cert.pem' })}'`);
    try {
      const { result: out, server, proxy, foreign } = await measure(inst.pids, () =>
        runToEnd(pin.load, [process.execPath, join(here, 'clients/tls-handshakes.mjs'), JSON.stringify(o)]),
      );
      const r = JSON.parse(out.trim().split('\n').at(-1));
      const reusedPct = r.done ? (100 * r.reused) / (r.done + r.errors) : 0;
      record(s, c.name, s.unit, r.rate, { errors: r.errors, foreign, server, proxy, client: r.clientCpu, reused: reusedPct, note: r.protocol });
      log(`  round ${round + 1} ${c.name.padEnd(11)} ${s.id.padEnd(10)} ${fmt(r.rate).padStart(7)} conn/s  reused ${fmt(reusedPct)}%  ${r.protocol} ${r.cipher}  server CPU ${fmt(server)}%  client CPU ${fmt(r.clientCpu)}%${r.errors ? `  errors ${r.errors}` : ''}${foreignNote(foreign)}`);
    } catch (error) {
      record(s, c.name, s.unit, NaN, { note: `failed: ${String(error.message).split('\n')[0]}` }).values.pop();
      log(`  ${c.name}: failed: ${error.message}`);
    }
  }
}

/**
 * Memory per idle keep-alive connection: a fresh process per contender, a
 * small warm-up, then RSS before and after opening N connections that each
 * carried one request. Direct means a fresh backend process measured alone.
 */
async function idleScenario(live, ctx, tls) {
  const s = tls
    ? { id: 'idle-tls', title: `6b. ${fmt(settings.idle)} idle TLS keep-alive connections (KiB RSS per connection)`, unit: 'KiB/conn' }
    : { id: 'idle', title: `6. ${fmt(settings.idle)} idle keep-alive connections (KiB RSS per connection)`, unit: 'KiB/conn' };
  const port = tls ? 'tls' : 'http';
  section(s.title);
  commands.set(s.title, `node clients/idle-conns.mjs '{"port":<port>,"host":"${domain}","count":${settings.idle},"parallel":100${tls ? ',"tls":true' : ''}}'  + VmRSS from /proc/<pid>/status, summed over the process and its descendants`);
  // Fresh processes, started together; each is measured alone while the others sit idle.
  const fresh = await Promise.allSettled(live.map((c) => c.start(ctx, { fresh: true })));
  for (const [i, c] of live.entries()) {
    let inst;
    try {
      if (fresh[i].status === 'rejected') throw fresh[i].reason;
      inst = fresh[i].value;
      await waitQuiet();
      if (inst.ports[port] === null) {
        na(s, c.name, 'no such mode');
        continue;
      }
      await idleClient(inst.ports[port], 200, 20, true, tls); // warm-up: code paths, pools, first allocations
      await sleep(settings.idleSettleMs / 2);
      const pid = inst.memPid();
      // The whole process tree: with workers the connections live in the children.
      const before = treeRssKiB(pid);
      const count = Math.min(settings.idle, c.maxConnections ? c.maxConnections() - 250 : Infinity);
      const end = foreignCpu();
      const client = await idleClient(inst.ports[port], count, 100, false, tls);
      await sleep(settings.idleSettleMs);
      const after = treeRssKiB(pid);
      const foreign = end();
      const { open } = await ask(client.child, 'report');
      client.child.send('exit');
      await client.child.exited;
      const perConn = (after - before) / open;
      const capped = count < settings.idle ? ` (capped: FD hard limit ${hardNofile()})` : '';
      const note = `RSS ${fmt(before / 1024, 1)} → ${fmt(after / 1024, 1)} MiB, ${fmt(open)} open${capped}${client.failed ? `, ${client.failed} failed` : ''}`;
      record(s, c.name, s.unit, perConn, { errors: client.failed, foreign, note });
      log(`  ${c.name.padEnd(11)} ${short(perConn).padStart(6)} KiB/conn  (${note})`);
    } catch (error) {
      record(s, c.name, s.unit, NaN, { note: `failed: ${String(error.message).split('\n')[0]}` }).values.pop();
      log(`  ${c.name}: failed: ${error.message}`);
    } finally {
      await inst?.stop();
    }
  }
}

async function idleClient(port, count, parallel, closeAfter, tls = false) {
  const o = { port, host: domain, count, parallel, tls };
  const child = start(pin.load, [process.execPath, join(here, 'clients/idle-conns.mjs'), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.exited.then(({ code }) => reject(new Error(`idle client exited (${code}): ${child.output.slice(-500)}`)));
  });
  if (closeAfter) {
    child.send('exit');
    await child.exited;
  }
  return { child, failed: ready.failed, opened: ready.opened };
}

function foreignNote(pct) {
  return pct >= foreignWarnPct ? `  (other processes: ${fmt(pct)}% of a core)` : '';
}

/**
 * Runs one measurement with the CPU of the server side (`pids`) and of the
 * rest of the machine recorded. When other processes took a real share of
 * the CPU, the measurement is thrown away and repeated (up to `retries`).
 */
async function measure(pids, fn) {
  for (let attempt = 0; ; attempt++) {
    await waitQuiet();
    const endForeign = foreignCpu();
    const endServer = treeCpu(pids);
    // pids[0] is the proxy; with a second pid (the backend) the proxy's own share is reported too.
    const endProxy = pids.length > 1 ? treeCpu(pids.slice(0, 1)) : undefined;
    const result = await fn();
    const server = endServer();
    const proxy = endProxy?.();
    const foreign = endForeign();
    if (foreign < foreignWarnPct || attempt >= settings.retries || waitedMs >= waitBudgetMs) return { result, server, proxy, foreign };
    log(`  (other processes took ${fmt(foreign)}% of a core: measuring again)`);
  }
}

/** Waits (bounded) until processes outside this run use little CPU, so they do not share the cores being measured. */
async function waitQuiet() {
  if (!settings.waitQuietSeconds || waitedMs >= waitBudgetMs) return;
  const started = Date.now();
  const deadline = started + settings.waitQuietSeconds * 1000;
  for (;;) {
    const end = foreignCpu();
    await sleep(500);
    const pct = end();
    waitedMs += 500;
    if (pct < foreignWarnPct) return;
    if (Date.now() > deadline || waitedMs >= waitBudgetMs) {
      log(`  machine still busy (other processes: ${fmt(pct)}% of a core); measuring anyway`);
      return;
    }
  }
}

function ask(child, message) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(message);
  });
}

async function routeScaleScenario() {
  section('7. Route table scale (in-process)');
  const [port] = await freePorts(1);
  const o = { port, sizes: settings.sizes, lookupMs: settings.lookupMs, updates: settings.updates };
  commands.set('7. route table scale', `node route-scale.mjs '${JSON.stringify({ ...o, port: '<port>' })}'`);
  const out = await runToEnd(pin.server, [process.execPath, join(here, 'route-scale.mjs'), JSON.stringify(o)], { cwd: tmp, env: { SMARTPROXY_LOG_LEVEL: 'warn', SMARTPROXY_DIST: dist.entry } });
  routeScale = JSON.parse(out.trim().split('\n').at(-1));
  for (const r of routeScale) {
    log(`  ${fmt(r.routes).padStart(6)} routes: ${fmt(r.lookupsPerSec)} lookups/s; updateRoutes ±1 median ${short(r.updateMedianMs)} ms, max ${short(r.updateMaxMs)} ms; start ${short(r.startMs)} ms`);
  }
}

/**
 * smartproxy under --cpu-prof: the child under the keep-alive, 1 MiB and
 * TCP passthrough loads, and the route-scale script at 10,000 routes.
 * Prints and records the functions with the most self time.
 */
async function profileScenario(ctx) {
  const c = contenders.find((x) => x.name === 'smartproxy');
  const dir = join(here, '.bench-out');
  mkdirSync(dir, { recursive: true });
  // Only this run's profiles stay: RESULTS.md names them.
  for (const f of readdirSync(dir)) if (f.endsWith('.cpuprofile')) rmSync(join(dir, f));
  const seconds = Math.max(5, settings.seconds);
  profile = [];
  const loads = [
    { what: 'scenario 1 (HTTP keep-alive, small bodies)', port: 'http', path: '/', connections: 64, unit: 'req/s' },
    { what: 'scenario 2 (HTTP keep-alive, 1 MiB bodies)', port: 'http', path: '/1m', connections: 8, unit: 'MB/s' },
    { what: 'scenario 5a (TCP passthrough, 1 MiB bodies)', port: 'tcp', path: '/1m', connections: 8, unit: 'MB/s' },
  ];
  for (const l of loads) {
    section(`profile: smartproxy child with --cpu-prof under ${l.what}`);
    const since = Date.now();
    const inst = await c.start(ctx, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
    const r = await load(gen, pin, { url: url(inst.ports[l.port], l.path), connections: l.connections, seconds, headers: { Host: domain } });
    await inst.stop();
    const rate = l.unit === 'MB/s' ? `${fmt(r.bytesPerSec / 1e6)} MB/s` : `${fmt(r.rps)} req/s`;
    const p = { what: `${seconds} s of ${l.what}, ${rate} while profiled`, ...summarise(newestProfile(dir, since)) };
    printTop(p);
    profile.push(p);
  }

  section('profile: updateRoutes() ±1 route at 10,000 routes');
  const since = Date.now();
  const [port] = await freePorts(1);
  const o = { port, sizes: [10000], lookupMs: 10, updates: 30 };
  await runToEnd(pin.server, [process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, join(here, 'route-scale.mjs'), JSON.stringify(o)], { cwd: tmp, env: { SMARTPROXY_LOG_LEVEL: 'warn', SMARTPROXY_DIST: dist.entry } });
  const p = { what: 'route-scale.mjs at 10,000 routes: start(), 32 updateRoutes() calls adding or removing one route, a few lookups', ...summarise(newestProfile(dir, since)) };
  printTop(p);
  profile.push(p);
}

function newestProfile(dir, since) {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) throw new Error('no .cpuprofile written');
  return file;
}

function summarise(file) {
  return { file: file.slice(here.length), ...topSelfTime(file, 20) };
}

function printTop(p) {
  log(`  ${p.file}: ${p.byArea.map((a) => `${a.area} ${short(a.pct)}%`).join(', ')}`);
  for (const row of p.rows.slice(0, 10)) log(`  ${short(row.pct).padStart(5)}%  ${row.name}  ${row.where}`);
}

/** A hand-written section of the old RESULTS.md (the TLS audit, from bench/tls-audit.sh) carried over to the new one. */
function keptSection(file, heading) {
  if (!existsSync(file)) return '';
  const old = readFileSync(file, 'utf8');
  const start = old.indexOf(`\n${heading}\n`);
  if (start === -1) return '';
  const next = old.indexOf('\n## ', start + heading.length + 2);
  return old.slice(start, next === -1 ? undefined : next + 1);
}

/**
 * --workers N: a second smartproxy contender started with `workers: N`
 * (servers/smartproxy.mjs reads SMARTPROXY_BENCH_WORKERS). Its processes may
 * use every core: pinned to the proxy's one core, N workers could only
 * show their overhead, never their scaling. On a 2-core machine they share
 * a core with the load generator, which the report must say next to the figure.
 */
function withWorkers(list) {
  const n = Number(args.workers);
  if (!args.workers) return list;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--workers wants a whole number, got ${args.workers}`);
  const base = list.find((c) => c.name === 'smartproxy');
  const cores = os.availableParallelism();
  const variant = {
    ...base,
    name: `smartproxy-workers${n}`,
    note: `this library with workers: ${n}, on every core (${cores}), the load generator included`,
    start: (ctx, opts) => {
      const all = ctx.pin.applied ? [ctx.pin.server[0], '-c', `0-${cores - 1}`] : [];
      return base.start({ ...ctx, pin: { ...ctx.pin, server: ['env', `SMARTPROXY_BENCH_WORKERS=${n}`, ...all] } }, opts);
    },
  };
  const at = list.indexOf(base);
  return [...list.slice(0, at + 1), variant, ...list.slice(at + 1)];
}
