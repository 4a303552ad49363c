// Scenario 8: does a smartproxy process stay fast and give memory back after
// minutes of work? A fresh child (and a fresh backend, so earlier scenarios
// weigh on neither) is warmed up and measured on 1 MiB bodies, then carries a
// mixed load for --soak-seconds while its RSS is sampled, then idles and is
// measured again. The runner only reads the child (/proc, and heap figures
// over IPC: servers/control.mjs); it never triggers anything inside it.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { contenders, startBackend } from './contenders.mjs';
import { treeCpu } from './cpu-monitor.mjs';
import { selfTimeGrowth, topSelfTime } from './cpuprofile.mjs';
import { describe, load } from './loadgen.mjs';
import { rssKiB, sleep } from './procs.mjs';
import { fmt, median, short } from './stats.mjs';

/** Idle time between the end of the load and the "after" RSS sample and 1 MiB figure. */
const idleSeconds = 10;

/**
 * Returns { soakSeconds, fresh, after, direct, samples, segments, rss, targets, profiles }
 * for the report (lib/report.mjs renders it).
 */
export async function longLivedScenario(o) {
  const { ctx, settings, gen, pin, log, section, commands, waitQuiet } = o;
  const soakSeconds = settings.soakSeconds;
  section(`8. Long-lived process: 1 MiB fresh, warm-up, ${fmt(soakSeconds)} s of mixed load, ${idleSeconds} s idle, 1 MiB again`);
  const backend = await startBackend(ctx);
  const sp = contenders.find((c) => c.name === 'smartproxy');
  const nodeArgs = o.gc ? ['--expose-gc'] : [];
  const inst = await sp.start(ctx, { ipc: true, backend, nodeArgs });
  const ask = asker(inst.child);
  const pid = inst.child.pid;
  const url = (port, path, scheme = 'http') => `${scheme}://127.0.0.1:${port}${path}`;
  const host = { Host: ctx.domain };
  const mixed = [
    { name: 'keep-alive 12 B', url: url(inst.ports.http, '/'), connections: 32, headers: host, unit: 'req/s' },
    { name: 'keep-alive 1 MiB', url: url(inst.ports.http, '/1m'), connections: 4, headers: host, unit: 'MB/s' },
    { name: 'new connection per request', url: url(inst.ports.http, '/'), connections: 8, headers: { ...host, Connection: 'close' }, unit: 'req/s' },
    { name: 'HTTPS keep-alive 12 B', url: url(inst.ports.tls, '/', 'https'), servername: ctx.domain, connections: 16, headers: host, unit: 'req/s' },
  ];
  const big = { url: url(inst.ports.http, '/1m'), connections: 8, headers: host };
  const bigDirect = { url: url(backend.http, '/1m'), connections: 8, headers: host };
  const rounds = Math.max(3, settings.rounds);
  const segmentSeconds = Math.max(5, Math.min(30, Math.round(soakSeconds / 4)));
  commands.set('8. long-lived: 1 MiB figure', `${rounds} × ${describe(gen, { ...big, seconds: settings.seconds, url: url('<port>', '/1m') })}  (direct: the same at the fresh backend)`);
  commands.set('8. long-lived: mixed load (all at once, in segments)', mixed.map((m) => describe(gen, { ...m, seconds: segmentSeconds, url: m.url.replace(/:\d+\//, ':<port>/') })).join('\n'));

  const samples = [];
  const t0 = Date.now();
  const sample = async (phase) => {
    const m = await ask({ cmd: 'mem' });
    const s = {
      t: (Date.now() - t0) / 1000, phase, rssKiB: rssKiB(pid),
      heapUsed: m.memory.heapUsed, heapTotal: m.memory.heapTotal, external: m.memory.external, arrayBuffers: m.memory.arrayBuffers,
      oldSpace: m.spaces.old_space, handles: m.handles, requests: m.requests, gc: m.gc,
    };
    samples.push(s);
    return s;
  };
  const profiles = [];
  const dir = o.outDir;
  if (o.profile) mkdirSync(dir, { recursive: true });

  try {
    // The fresh figure comes before any other load: a few seconds of small requests are enough to
    // move V8 out of its start-up heap limits, and that change is part of what this scenario measures.
    await load(gen, pin, { ...big, seconds: settings.warmupSeconds * 2 }).catch(() => {});
    const fresh = await figure('fresh');
    if (o.profile) profiles.push(await profileRun('fresh'));
    // Then every load of the mix once (JIT, pools, TLS contexts): the RSS baseline is a warmed-up process.
    for (const m of mixed) await load(gen, pin, { ...m, seconds: settings.warmupSeconds }).catch(() => {});
    await sleep(2000);
    const postWarmUp = await sample('post-warm-up');
    log(`  post-warm-up: RSS ${mib(postWarmUp.rssKiB * 1024)} MiB, heap used ${mib(postWarmUp.heapUsed)} MiB`);

    // The mixed load, in back-to-back segments so the rates over time show.
    const segments = [];
    let sampler;
    const every = soakSeconds >= 60 ? 5000 : 2000;
    const tick = async () => {
      await sample('load').catch(() => {});
      sampler = setTimeout(tick, every);
    };
    sampler = setTimeout(tick, every);
    const soakEnd = Date.now() + soakSeconds * 1000;
    while (Date.now() < soakEnd - 1000) {
      const seconds = Math.max(1, Math.min(segmentSeconds, Math.round((soakEnd - Date.now()) / 1000)));
      const start = (Date.now() - t0) / 1000;
      const gc0 = gcTotal((await ask({ cmd: 'mem' })).gc);
      const rs = await Promise.all(mixed.map((m) => load(gen, pin, { ...m, seconds }).catch((e) => ({ failed: String(e.message).split('\n')[0] }))));
      const gc1 = gcTotal((await ask({ cmd: 'mem' })).gc);
      const seg = { start, seconds, gcPct: (gc1.ms - gc0.ms) / seconds / 10, major: gc1.major - gc0.major, rates: rs.map((r, i) => (r.failed ? NaN : mixed[i].unit === 'MB/s' ? r.bytesPerSec / 1e6 : r.rps)), errors: rs.map((r) => (r.failed ? 1 : r.errors + r.non2xx)) };
      segments.push(seg);
      log(`  ${fmt(start).padStart(4)} s +${seconds} s: ${mixed.map((m, i) => `${m.name} ${fmt(seg.rates[i])} ${m.unit}${seg.errors[i] ? ` (errors ${seg.errors[i]})` : ''}`).join('; ')}; GC ${fmt(seg.gcPct, 1)}% of the time (${seg.major} major); RSS ${mib(samples.at(-1).rssKiB * 1024)} MiB`);
    }
    clearTimeout(sampler);
    const endOfLoad = await sample('end of load');
    for (let i = 0; i < idleSeconds; i++) {
      await sleep(1000);
      await sample('idle');
    }
    const afterIdle = samples.at(-1);
    afterIdle.phase = 'after idle';
    log(`  end of load: RSS ${mib(endOfLoad.rssKiB * 1024)} MiB; after ${idleSeconds} s idle: ${mib(afterIdle.rssKiB * 1024)} MiB, heap used ${mib(afterIdle.heapUsed)} MiB`);
    let afterGc;
    if (o.gc) {
      // Investigation only (--soak-gc): what a full GC would give back. Not part of the target.
      await ask({ cmd: 'gc' });
      await sleep(1000);
      afterGc = await sample('after forced GC');
      log(`  after a forced GC (--soak-gc): RSS ${mib(afterGc.rssKiB * 1024)} MiB, heap used ${mib(afterGc.heapUsed)} MiB`);
    }

    const after = await figure('after');
    if (o.profile) profiles.push(await profileRun('after'));
    await sample('end');

    const peak = samples.reduce((a, b) => (b.rssKiB > a.rssKiB ? b : a));
    const ratio = after.median / fresh.median;
    const rssRatio = afterIdle.rssKiB / postWarmUp.rssKiB;
    const result = {
      soakSeconds, segmentSeconds, idleSeconds, rounds, mixed: mixed.map((m) => ({ name: m.name, unit: m.unit, connections: m.connections })),
      fresh, after, ratio, samples, segments, profiles,
      growth: profiles.length === 2 ? selfTimeGrowth(profiles[0], profiles[1]) : undefined,
      rss: { postWarmUp, peak, endOfLoad, afterIdle, afterGc, ratio: rssRatio },
      targets: [
        { what: 'Long-lived: 1 MiB after the soak ≥ 0.9× fresh (same process)', value: ratio, limit: 0.9, ok: ratio >= 0.9, measured: `${short(ratio)}×`, peer: `fresh ${fmt(fresh.median)} MB/s → after ${fmt(after.median)} MB/s; by proxy CPU per MB ${short(fresh.cpuPerMB / after.cpuPerMB)}× (${fmt(fresh.cpuPerMB)} → ${fmt(after.cpuPerMB)} µs/MB), direct backend ${short(after.direct / fresh.direct)}×` },
        { what: `Long-lived: RSS ${idleSeconds} s after the load ≤ 1.2× post-warm-up`, value: rssRatio, limit: 1.2, ok: rssRatio <= 1.2, measured: `${short(rssRatio)}×`, peer: `${mib(postWarmUp.rssKiB * 1024)} → ${mib(afterIdle.rssKiB * 1024)} MiB (peak ${mib(peak.rssKiB * 1024)})` },
      ],
    };
    log(`  1 MiB: fresh ${fmt(fresh.median)} MB/s, after ${fmt(after.median)} MB/s (${short(ratio)}×; direct ${fmt(fresh.direct)} → ${fmt(after.direct)} MB/s); RSS post-warm-up ${mib(postWarmUp.rssKiB * 1024)}, peak ${mib(peak.rssKiB * 1024)}, after idle ${mib(afterIdle.rssKiB * 1024)} MiB (${short(rssRatio)}×)`);
    for (const g of result.growth?.slice(0, 10) ?? []) log(`  self time grew ${short(g.deltaUs).padStart(6)} µs/MB (${short(g.aUs)} → ${short(g.bUs)})  ${g.name}  ${g.where}`);
    return result;
  } finally {
    await inst.stop();
    const { stop } = await import('./procs.mjs');
    await stop(backend.child);
  }

  /**
   * The 1 MiB figure: `rounds` runs, smartproxy and the direct backend interleaved; medians.
   * Also the proxy's CPU µs per MB and its GC pause ms per GB (from the child's GC totals):
   * unlike MB/s, these barely move when other processes share the machine.
   */
  async function figure(when) {
    const values = [];
    const direct = [];
    const cpuPerMB = [];
    const gcPerGB = [];
    for (let r = 0; r < rounds; r++) {
      await waitQuiet();
      const gc0 = gcTotal((await ask({ cmd: 'mem' })).gc);
      const cpu = treeCpu([pid]);
      const a = await load(gen, pin, { ...big, seconds: settings.seconds });
      const proxyPct = cpu();
      const gc1 = gcTotal((await ask({ cmd: 'mem' })).gc);
      const mb = (a.bytesPerSec / 1e6) * settings.seconds;
      values.push(a.bytesPerSec / 1e6);
      cpuPerMB.push(((proxyPct / 100) * 1e6) / (a.bytesPerSec / 1e6));
      gcPerGB.push({ ms: ((gc1.ms - gc0.ms) * 1000) / mb, major: ((gc1.major - gc0.major) * 1000) / mb });
      const d = await load(gen, pin, { ...bigDirect, seconds: settings.seconds });
      direct.push(d.bytesPerSec / 1e6);
    }
    const f = {
      median: median(values), values, direct: median(direct), directValues: direct, cpuPerMB: median(cpuPerMB),
      gcMsPerGB: median(gcPerGB.map((g) => g.ms)), majorPerGB: median(gcPerGB.map((g) => g.major)),
    };
    log(`  1 MiB ${when}: smartproxy ${values.map((v) => fmt(v)).join(', ')} MB/s (median ${fmt(f.median)}), proxy CPU ${fmt(f.cpuPerMB)} µs/MB, GC ${fmt(f.gcMsPerGB)} ms/GB (${fmt(f.majorPerGB, 1)} major GCs/GB); direct backend ${fmt(f.direct)} MB/s`);
    return f;
  }

  /** A CPU profile of the child over one 5 s 1 MiB run (separate from the figure: the profiler costs time). */
  async function profileRun(when) {
    const file = join(dir, `longlived-${when}-${pid}.cpuprofile`);
    await ask({ cmd: 'profile-start' });
    const r = await load(gen, pin, { ...big, seconds: Math.max(5, settings.seconds) });
    await ask({ cmd: 'profile-stop', file });
    const mbps = r.bytesPerSec / 1e6;
    const top = topSelfTime(file, 25, true);
    log(`  profile ${when} (${fmt(mbps)} MB/s while profiled): ${top.byArea.map((a) => `${a.area} ${short(a.pct)}%`).join(', ')}`);
    // Work done while profiled, in MB: self time per MB compares the two profiles whatever their rates.
    return { when, file: file.slice(dir.length - '.bench-out'.length), mbps, units: r.bytesPerSec * Math.max(5, settings.seconds) / 1e6, ...top };
  }
}

/** GC totals of the child since it started: all pauses in ms, and the number of major (mark-compact) ones. */
function gcTotal(gc) {
  const kinds = Object.values(gc ?? {});
  return { ms: kinds.reduce((a, k) => a + k.ms, 0), major: gc?.major?.count ?? 0 };
}

function asker(child) {
  let next = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    const w = waiting.get(m?.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.ok) w.resolve(m);
    else w.reject(new Error(m.error));
  });
  return (msg) => new Promise((resolve, reject) => {
    const id = ++next;
    waiting.set(id, { resolve, reject });
    child.send({ ...msg, id });
  });
}

export function mib(bytes) {
  return fmt(bytes / 2 ** 20, 1);
}
