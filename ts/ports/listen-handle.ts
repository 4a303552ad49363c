/**
 * A port bound for worker processes to accept from: the socket is bound
 * here but never listened on here, so this process accepts no connection.
 * Each worker that is sent the handle (child.send(message, handle)) calls
 * listen() on its copy and accepts from the one shared socket, as
 * node:cluster does in its SCHED_NONE mode. Bound without SO_REUSEPORT,
 * so a port another program holds (reusePort or not) is EADDRINUSE here.
 *
 * Node's public API cannot bind without listening, and a listening
 * net.Server in this process would wake for every connection and take its
 * share. So this uses net._createServerHandle, the binding node:cluster's
 * primary uses for the same job (present from Node 0.x to 24).
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A bound libuv TCP handle (Node's internal TCP wrap), typed only as far as it is used. */
export interface ListenHandle {
  close(): void;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
}

interface NetInternals {
  _createServerHandle?(address: string | null, port: number, addressType?: number, fd?: number, flags?: number): ListenHandle | number;
}

/**
 * Binds `port` on `host` (all interfaces when undefined, IPv6 then IPv4, as
 * server.listen() does). Rejects with an errno-style error (code
 * EADDRINUSE, EACCES, …) that bindError() turns into the typed one.
 */
export async function bindListenHandle(port: number, host: string | undefined): Promise<ListenHandle> {
  const create = (net as unknown as NetInternals)._createServerHandle;
  if (create === undefined) throw new Error('this Node has no net._createServerHandle: workers cannot share a listening socket');
  let address: string | null = null;
  let family = 4;
  if (host !== undefined) {
    // server.listen({ host }) resolves a name the same way: the first address dns.lookup gives.
    const resolved = net.isIP(host) === 0 ? await lookup(host) : { address: host, family: net.isIP(host) };
    address = resolved.address;
    family = resolved.family;
  }
  const result = create(address, port, family, undefined, 0);
  if (typeof result === 'number') throw bindFailure(getSystemErrorName(result), address, port);
  // libuv keeps a bind's EADDRINUSE for listen() to report, which this process never calls: a socket
  // that did not get the port has none (a worker's listen() would then pick a random one).
  const bound: { port?: number } = {};
  if (result.getsockname(bound) !== 0 || bound.port !== port) {
    result.close();
    throw bindFailure('EADDRINUSE', address, port);
  }
  return result;
}

/** An error shaped like Node's own bind errors, for bindError(). */
function bindFailure(code: string, address: string | null, port: number): Error {
  return Object.assign(new Error(`bind ${code} ${address ?? '::'}:${port}`), { code, syscall: 'bind', address: address ?? '::', port });
}

/** The address a bound handle has, for the log line. */
export function boundAddress(handle: ListenHandle): string | undefined {
  const out: { address?: string } = {};
  return handle.getsockname(out) === 0 ? out.address : undefined;
}
