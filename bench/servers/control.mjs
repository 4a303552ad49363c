// IPC commands for a server child that the runner watches over a long run
// (servers/smartproxy.mjs loads this only when it has an IPC channel).
// Each message { id, cmd, ... } gets one answer { id, ok, ... }:
//   mem            process.memoryUsage(), V8 heap spaces, active handles and requests,
//                  and GC totals since start (count and ms per kind, from perf_hooks)
//   profile-start  starts V8's CPU profiler (inspector, in-process)
//   profile-stop   stops it and writes { file } as a .cpuprofile
//   gc             a full GC, only when node runs with --expose-gc (investigation only)
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

const gcKinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export function control(proc) {
  let session;
  // GC pauses on the main thread, summed per kind: { minor: { count, ms }, ... }.
  const gc = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = gcKinds[e.detail?.kind ?? e.kind] ?? 'other';
      const k = (gc[kind] ??= { count: 0, ms: 0 });
      k.count++;
      k.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const post = (method, params) => new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result)));
  });
  const commands = {
    mem: () => ({
      memory: process.memoryUsage(),
      spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])),
      heap: v8.getHeapStatistics(),
      handles: process._getActiveHandles?.().length,
      requests: process._getActiveRequests?.().length,
      gc: structuredClone(gc),
    }),
    'profile-start': async (m) => {
      session = new Session();
      session.connect();
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: m.intervalUs ?? 1000 });
      await post('Profiler.start');
      return {};
    },
    'profile-stop': async (m) => {
      const { profile } = await post('Profiler.stop');
      session.disconnect();
      session = undefined;
      writeFileSync(m.file, JSON.stringify(profile));
      return { file: m.file };
    },
    gc: () => {
      if (typeof globalThis.gc !== 'function') throw new Error('run node with --expose-gc');
      globalThis.gc();
      return {};
    },
  };
  proc.on('message', async (m) => {
    try {
      const run = commands[m?.cmd];
      if (!run) throw new Error(`unknown command ${m?.cmd}`);
      proc.send({ id: m.id, ok: true, ...(await run(m)) });
    } catch (error) {
      proc.send({ id: m?.id, ok: false, error: String(error?.message ?? error) });
    }
  });
}
