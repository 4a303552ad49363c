import net from 'node:net';
import { getFreePort } from './free-port.js';

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
 * `count` free ports below the kernel's ephemeral range, reserved for this
 * process (see getFreePort). Tests that release and re-bind ports many times
 * use these, so a port briefly free between two updates is never handed to
 * another test or to an outgoing connection.
 */
export async function quietPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await getFreePort());
  return ports;
}
