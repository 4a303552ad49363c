// One interface over wrk (preferred: C, one core is plenty) and autocannon
// (fallback). Every contender in a scenario gets the same settings.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runToEnd, which } from './procs.mjs';

const here = fileURLToPath(new URL('..', import.meta.url));
const autocannonBin = join(here, 'node_modules/autocannon/autocannon.js');

export function pickLoadGenerator(preferred) {
  const wrk = which('wrk');
  const autocannon = existsSync(autocannonBin);
  if (preferred === 'autocannon' && autocannon) return { name: 'autocannon', version: 'autocannon (npm)' };
  if (wrk && preferred !== 'autocannon') return { name: 'wrk', path: wrk, version: 'wrk' };
  if (autocannon) return { name: 'autocannon', version: 'autocannon (npm)' };
  return undefined;
}

/**
 * Runs one load test and returns
 * { rps, bytesPerSec, p50Ms, p99Ms, errors, non2xx, command }.
 * opts: { url, connections, seconds, headers: { name: value }, servername? }
 * With `servername` (HTTPS), wrk gets that name as the URL's host, which is
 * what it sends as SNI; lib/wrk-report.lua resolves every name to 127.0.0.1.
 */
export async function load(gen, pin, opts) {
  return gen.name === 'wrk' ? runWrk(gen, pin, opts) : runAutocannon(pin, opts);
}

/** The command line, for the report, without the pinning prefix. */
export function describe(gen, opts) {
  const h = Object.entries(opts.headers ?? {});
  if (gen.name === 'wrk') {
    const sni = opts.servername ? '   # SNI from the URL host; wrk-report.lua resolves it to 127.0.0.1' : '';
    return `wrk -t1 -c${opts.connections} -d${opts.seconds}s --latency ${h.map(([k, v]) => `-H '${k}: ${v}' `).join('')}-s lib/wrk-report.lua ${wrkUrl(opts)}${sni}`;
  }
  return `autocannon -c ${opts.connections} -d ${opts.seconds} -j ${opts.servername ? `--servername ${opts.servername} ` : ''}${h.map(([k, v]) => `-H '${k}=${v}' `).join('')}${opts.url}`;
}

/** wrk sends the URL's host as SNI: put the server name there (the Lua script connects to 127.0.0.1). */
function wrkUrl(opts) {
  return opts.servername ? opts.url.replace('//127.0.0.1:', `//${opts.servername}:`) : opts.url;
}

async function runWrk(gen, pin, opts) {
  const args = [gen.path, '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '10s', '--latency', '-s', join(here, 'lib/wrk-report.lua')];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(wrkUrl(opts));
  const out = await runToEnd(pin.load, args);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no summary:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length));
  const seconds = r.duration_us / 1e6;
  return {
    rps: r.requests / seconds,
    bytesPerSec: r.bytes / seconds,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: r.connect + r.read + r.write + r.timeout,
    non2xx: r.status,
    requests: r.requests,
  };
}

async function runAutocannon(pin, opts) {
  const args = [process.execPath, autocannonBin, '-c', String(opts.connections), '-d', String(opts.seconds), '-j'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (opts.servername) args.push('--servername', opts.servername);
  args.push(opts.url);
  const out = await runToEnd(pin.load, args);
  const r = JSON.parse(out.slice(out.indexOf('{')));
  return {
    rps: r.requests.total / r.duration,
    bytesPerSec: r.throughput.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    requests: r.requests.total,
  };
}
