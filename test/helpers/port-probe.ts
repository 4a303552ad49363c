import net from 'node:net';
import { readFileSync } from 'node:fs';

/** Binds the port and closes it again: undefined when that worked, else the error code (EADDRINUSE, …). */
export async function probeBind(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  const server = net.createServer();
  const code = await new Promise<string | undefined>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host }, () => resolve(undefined));
  });
  if (code === undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  return code;
}

/** Another application holding a port: a plain net.Server listening on it until close(). */
export async function holdPort(port: number, host = '127.0.0.1'): Promise<{ close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => resolve());
  });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * `count` free ports below the kernel's ephemeral range. Tests that release
 * and re-bind ports many times use these, so a port briefly free between two
 * updates is never handed to another test's getFreePort() or to an outgoing
 * connection, which would turn into a spurious EADDRINUSE.
 */
export async function quietPorts(count: number): Promise<number[]> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: 32768 is below the BSD and Windows ranges too.
  }
  const floor = 10_000;
  const span = Math.max(low - floor - count * 4, 1);
  const ports: number[] = [];
  for (let port = floor + Math.floor(Math.random() * span); ports.length < count && port < low; port++) {
    if ((await probeBind(port)) === undefined) ports.push(port);
  }
  if (ports.length < count) throw new Error(`finding ${count} quiet ports: only ${ports.length} free below ${low}`);
  return ports;
}
