import { createServer } from 'node:net';

/**
 * getFreePort returns a TCP port that was free a moment ago on `host`. Another
 * process can take it before the caller binds it; tests accept that small race
 * for ports they must hand to an external process before it starts.
 */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error(`getting free port: unexpected address ${String(address)}`);
  }
  return address.port;
}
