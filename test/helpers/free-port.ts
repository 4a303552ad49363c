import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports for tests, picked so that a port handed out stays free until the
 * test binds it, even when that is seconds later (Pebble starting first).
 *
 * The old helper bound port 0, closed it, and returned the number: a port
 * from the kernel's ephemeral range, which the kernel then hands to the next
 * outgoing connection or `listen(0)` anywhere on the machine — so another
 * test (or another engineer's run) could hold it by the time ours bound it
 * (the acme-http01 PortInUseError). Now ports come from below the ephemeral
 * range, which the kernel never picks by itself, and each is reserved across
 * processes with a lock directory (mkdir is atomic) for as long as this
 * process lives; a lock whose process is gone is taken over.
 */

const lockRoot = join(tmpdir(), 'smartproxy-test-ports');
const held = new Set<number>();
let cleanupInstalled = false;

/** A free TCP port on `host`, below the ephemeral range and reserved for this process. */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = quietRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (held.has(port) || !reserve(port)) continue;
    if ((await bindable(port, host)) && (host === '0.0.0.0' || (await bindable(port, '0.0.0.0')))) {
      held.add(port);
      return port;
    }
    release(port);
  }
  throw new Error(`getting a free port: none found in ${low}-${high} after 200 tries`);
}

/** [floor, first ephemeral port): ports the kernel never assigns on its own. */
function quietRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: 32768 is below the BSD and Windows ephemeral ranges too.
  }
  return [10_000, Math.max(ephemeralLow, 10_001)];
}

function bindable(port: number, host: string): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Takes the cross-process lock for a port; false when a live process holds it. */
function reserve(port: number): boolean {
  const dir = join(lockRoot, String(port));
  mkdirSync(lockRoot, { recursive: true });
  try {
    mkdirSync(dir);
  } catch {
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      return false; // being created right now by its owner
    }
    if (isAlive(owner)) return false;
    rmSync(dir, { recursive: true, force: true });
    try {
      mkdirSync(dir);
    } catch {
      return false;
    }
  }
  writeFileSync(join(dir, 'pid'), String(process.pid));
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.once('exit', () => {
      for (const p of held) release(p);
    });
  }
  return true;
}

function release(port: number): void {
  rmSync(join(lockRoot, String(port)), { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
