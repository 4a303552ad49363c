// The test port helper hands out ports the kernel never picks by itself
// (below the ephemeral range) and never the same one to two test processes
// at once: the cause of the acme-http01 flake was a port picked from the
// ephemeral range and taken by someone else before the proxy bound it.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from './helpers/free-port.js';

const run = promisify(execFile);

t.test('ports are distinct, below the ephemeral range, and reserved across processes', async (t) => {
  const ephemeralLow = existsSync('/proc/sys/net/ipv4/ip_local_port_range') ? Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) : 32768;
  const mine = await Promise.all(Array.from({ length: 30 }, () => getFreePort()));
  t.equal(new Set(mine).size, mine.length, 'no port handed out twice');
  t.ok(mine.every((port) => port >= 10_000 && port < ephemeralLow), 'all below the ephemeral range');
  t.equal(readFileSync(join(tmpdir(), 'smartproxy-test-ports', String(mine[0]), 'pid'), 'utf8'), String(process.pid), 'reserved under our pid');

  const helper = new URL('./helpers/free-port.ts', import.meta.url).href;
  const script = `const { getFreePort } = await import(${JSON.stringify(helper)}); const ports = []; for (let i = 0; i < 200; i++) ports.push(await getFreePort()); console.log(JSON.stringify(ports));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  const theirs = JSON.parse(stdout) as number[];
  t.same(theirs.filter((port) => mine.includes(port)), [], 'another process never gets a port this one holds');
});
