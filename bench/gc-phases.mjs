// Investigation aid for the long-lived slowdown (not part of npm run bench): one fresh
// smartproxy child (and backend), then phases of load in the order given, with the 1 MiB
// figure after each: MB/s, proxy and backend CPU µs/MB, GC pause ms/GB, major/minor GCs per GB,
// heap, plus a 4 s CPU profile and the self time per MB that grew from fresh to the last one.
// Usage (after a build): node gc-phases.mjs K,C,S,T,P,B,G,I [--gc]
//   K keep-alive 12 B (18 s)  C new connection per request (18 s)  S HTTPS keep-alive 12 B (18 s)
//   T TLS handshakes (15 s)   P TCP passthrough 1 MiB (18 s)        B 1 MiB keep-alive (18 s)
//   G forced GC (needs --gc)  I 15 s idle
// Environment: NODEARGS="--trace-gc" (with SHOWGC=1 prints the last GC lines),
// NODEARGS="--max-semi-space-size=64" to try a V8 setting. Profiles go to bench/.bench-out/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
const B = fileURLToPath(new URL('.', import.meta.url));
const out = join(B, '.bench-out');
mkdirSync(out, { recursive: true });
const { contenders, startBackend } = await import(B + 'lib/contenders.mjs');
const { treeCpu } = await import(B + 'lib/cpu-monitor.mjs');
const { load, pickLoadGenerator } = await import(B + 'lib/loadgen.mjs');
const { pinningPlan, rssKiB, runToEnd, stopAll, sleep } = await import(B + 'lib/procs.mjs');
const { snapshotDist } = await import(B + 'lib/dist.mjs');
const { topSelfTime, selfTimeGrowth } = await import(B + 'lib/cpuprofile.mjs');
const steps = process.argv[2] ?? 'K,C,T,K';
const gcFlag = process.argv.includes('--gc');
const tmp = mkdtempSync(join(os.tmpdir(), 'llx-'));
const dist = snapshotDist();
const { createSelfSignedCertificate } = await import(pathToFileURL(dist.entry).href);
const pair = createSelfSignedCertificate({ domains: ['bench.local'], ips: ['127.0.0.1'] });
const pin = pinningPlan(); const gen = pickLoadGenerator();
const ctx = { tmp, pin, domain: 'bench.local', dist, key: join(tmp, 'k.pem'), cert: join(tmp, 'c.pem') };
writeFileSync(ctx.key, pair.key); writeFileSync(ctx.cert, pair.cert);
const backend = await startBackend(ctx); ctx.backend = backend;
const inst = await contenders.find((c) => c.name === 'smartproxy').start(ctx, { ipc: true, backend, nodeArgs: [...(gcFlag ? ['--expose-gc'] : []), ...(process.env.NODEARGS ? process.env.NODEARGS.split(' ') : [])] });
const pid = inst.child.pid;
let n = 0; const wait = new Map();
inst.child.on('message', (m) => { wait.get(m.id)?.(m); wait.delete(m.id); });
const ask = (m) => new Promise((r) => { const id = ++n; wait.set(id, r); inst.child.send({ ...m, id }); });
const H = { Host: 'bench.local' };
const u = (p, path, s = 'http') => `${s}://127.0.0.1:${p}${path}`;
const big = { url: u(inst.ports.http, '/1m'), connections: 8, headers: H };
const gcT = (gc) => ({ ms: Object.values(gc).reduce((a, k) => a + k.ms, 0), major: gc.major?.count ?? 0, minor: gc.minor?.count ?? 0 });
const profiles = [];
async function measure(label) {
  const rows = [];
  for (let i = 0; i < 3; i++) {
    const m0 = await ask({ cmd: 'mem' }); const c = treeCpu([pid]); const cb = treeCpu([backend.child.pid]);
    const r = await load(gen, pin, { ...big, seconds: 3 });
    const pct = c(); const bpct = cb(); const m1 = await ask({ cmd: 'mem' });
    const mbps = r.bytesPerSec / 1e6; const mb = mbps * 3;
    const g0 = gcT(m0.gc), g1 = gcT(m1.gc);
    rows.push({ mbps, cpu: pct / 100 * 1e6 / mbps, bcpu: bpct / 100 * 1e6 / mbps, gc: (g1.ms - g0.ms) * 1000 / mb, major: (g1.major - g0.major) * 1000 / mb, minor: (g1.minor - g0.minor) * 1000 / mb });
  }
  const med = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[1];
  const m = await ask({ cmd: 'mem' });
  const file = join(out, `gc-phases-${label.replace(' ', '-')}-${pid}.cpuprofile`);
  await ask({ cmd: 'profile-start' });
  const r = await load(gen, pin, { ...big, seconds: 4 });
  await ask({ cmd: 'profile-stop', file });
  const p = { ...topSelfTime(file, 12, true), units: r.bytesPerSec / 1e6 * 4, label };
  profiles.push(p);
  const top = p.rows.filter((x) => !x.name.startsWith('(idle')).slice(0, 6).map((x) => `${x.name} ${(x.selfMs * 1000 / p.units).toFixed(0)}`).join(', ');
  console.log(`${label.padEnd(22)} ${med('mbps').toFixed(0).padStart(5)} MB/s  proxy ${med('cpu').toFixed(0)} µs/MB  backend ${med('bcpu').toFixed(0)} µs/MB  GC ${med('gc').toFixed(0)} ms/GB  major ${med('major').toFixed(1)}/GB minor ${med('minor').toFixed(0)}/GB | heapUsed ${(m.memory.heapUsed/2**20).toFixed(1)} total ${(m.memory.heapTotal/2**20).toFixed(1)} old ${(m.spaces.old_space/2**20).toFixed(1)} code ${(m.spaces.code_space/2**20).toFixed(1)} ab ${(m.memory.arrayBuffers/2**20).toFixed(1)} rss ${(rssKiB(pid)/1024).toFixed(0)} handles ${m.handles}\n    profiled µs/MB: ${top}`);
}
await load(gen, pin, { url: u(inst.ports.http, '/'), connections: 64, seconds: 2, headers: H });
await load(gen, pin, { ...big, seconds: 2 });
await measure('fresh');
for (const s of steps.split(',')) {
  if (s === 'K') for (let i = 0; i < 6; i++) await load(gen, pin, { url: u(inst.ports.http, '/'), connections: 64, seconds: 3, headers: H });
  if (s === 'B') for (let i = 0; i < 6; i++) await load(gen, pin, { ...big, seconds: 3 });
  if (s === 'C') for (let i = 0; i < 6; i++) await load(gen, pin, { url: u(inst.ports.http, '/'), connections: 16, seconds: 3, headers: { ...H, Connection: 'close' } });
  if (s === 'S') for (let i = 0; i < 6; i++) await load(gen, pin, { url: u(inst.ports.tls, '/', 'https'), servername: 'bench.local', connections: 64, seconds: 3, headers: H });
  if (s === 'T') await runToEnd(pin.load, [process.execPath, B + 'clients/tls-handshakes.mjs', JSON.stringify({ port: inst.ports.tls, servername: 'bench.local', ca: ctx.cert, concurrency: 32, ms: 15000, resume: false })]);
  if (s === 'P') for (let i = 0; i < 6; i++) await load(gen, pin, { url: u(inst.ports.tcp, '/1m'), connections: 8, seconds: 3, headers: H });
  if (s === 'G') { await ask({ cmd: 'gc' }); await sleep(500); }
  if (s === 'I') await sleep(15000);
  await measure(`after ${s}`);
}
const g = selfTimeGrowth(profiles[0], profiles.at(-1), 12);
console.log('growth fresh → last (µs/MB):'); for (const x of g) console.log(`  ${x.deltaUs.toFixed(1).padStart(7)}  ${x.aUs.toFixed(1)} → ${x.bUs.toFixed(1)}  ${x.name} ${x.where}`);
// SHOWGC=1: the child's last GC log lines (with NODEARGS="--trace-gc"); SHOWGC=<regex>: the last lines matching it.
if (process.env.SHOWGC) {
  const re = process.env.SHOWGC === '1' ? /Mark-Compact|Scavenge/ : new RegExp(process.env.SHOWGC);
  console.log(inst.child.output.split('\n').filter((l) => re.test(l)).slice(-16).join('\n'));
}
await stopAll();
dist.remove();
rmSync(tmp, { recursive: true, force: true });
