// Child processes, CPU pinning, free ports and readiness checks.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** Whether an executable is on PATH (sbin included: nginx and haproxy live there). */
export function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Pinning plan: the load generator gets its own core so it never competes
 * with the server side (proxy and backend share the other one). Without
 * taskset or with one core everything floats, and the report says so.
 */
export function pinningPlan() {
  const cores = os.availableParallelism();
  const taskset = which('taskset');
  if (!taskset || cores < 2) {
    return { applied: false, server: [], load: [], why: !taskset ? 'taskset not found' : `only ${cores} core` };
  }
  return { applied: true, server: [taskset, '-c', '0'], load: [taskset, '-c', '1'], why: 'load generator on CPU 1; proxy and backend on CPU 0' };
}

const children = new Set();

/**
 * Spawns `argv` with an optional taskset prefix. taskset execs its command,
 * so the child's pid is the real process (needed for /proc/<pid>/status).
 */
export function start(prefix, argv, opts = {}) {
  const full = [...prefix, ...argv];
  const child = spawn(full[0], full.slice(1), {
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
  });
  child.output = '';
  const keep = (chunk) => {
    child.output += chunk;
    if (child.output.length > 64_000) child.output = child.output.slice(-32_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (err) => keep(String(err)));
  children.add(child);
  child.exited.then(() => children.delete(child));
  return child;
}

/** Runs a command to completion and returns its stdout (stderr folded in on failure). */
export async function runToEnd(prefix, argv, opts = {}) {
  const child = start(prefix, argv, opts);
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  const { code, signal } = await child.exited;
  if (code !== 0) throw new Error(`${argv[0]} exited with ${code ?? signal}: ${child.output.slice(-2000)}`);
  return stdout;
}

/** SIGTERM, then SIGKILL after a grace period; only ever our own children, by pid. */
export async function stop(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c, 2000)));
}

/** Free loopback ports, all distinct: hold every listener until all are known. */
export async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
    servers.push(s);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port, child, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`exited early (${child.exitCode}): ${child.output.slice(-2000)}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not ready after ${timeoutMs} ms: ${child?.output.slice(-2000) ?? ''}`);
    await sleep(50);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident set size in KiB, from /proc (Linux only). */
export function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * Resident set size of a process and all its descendants, in KiB: a
 * smartproxy with workers holds its connections in child processes.
 */
export function treeRssKiB(pid) {
  let total = rssKiB(pid);
  for (const child of childPids(pid)) {
    try {
      total += treeRssKiB(child);
    } catch {
      // The child exited between listing and reading: nothing of it to count.
    }
  }
  return total;
}

/** Direct children of a pid (nginx's worker under its master). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The hard limit on open files: what nginx and haproxy can raise themselves to. */
export function hardNofile() {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1_000_000;
}
