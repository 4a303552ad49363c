/**
 * The client's address for a connection: the one a PROXY protocol header
 * carried when a trusted balancer sent one, else the peer's. Every place
 * that routes, filters, limits, forwards or logs by client address reads
 * it here, so nothing reads the raw peer of a proxied connection.
 */
import type { Socket } from 'node:net';
import { unmapIPv4 } from '../../routing/ip-matcher.js';

/** The source and destination a PROXY header named. */
export interface ProxiedAddress {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly destIp: string;
  readonly destPort: number;
}

const proxied = new WeakMap<Socket, ProxiedAddress>();

/** Records what a PROXY header said about `socket` (and, for a TLS socket on it, the same). */
export function setProxiedAddress(socket: Socket, address: ProxiedAddress): void {
  proxied.set(socket, address);
}

/** Carries a raw socket's PROXY address over to a socket wrapping it (terminated TLS). */
export function inheritClientAddress(outer: Socket, inner: Socket): void {
  const address = proxied.get(inner);
  if (address !== undefined) proxied.set(outer, address);
}

/** The client IP (IPv4-mapped IPv6 unmapped) of a connection. */
export function clientAddress(socket: Socket): string {
  const address = proxied.get(socket);
  if (address !== undefined) return address.clientIp;
  return unmapIPv4(socket.remoteAddress ?? '');
}

/** Source and destination of a connection as a PROXY header sent upstream describes it. */
export function connectionEnds(socket: Socket): ProxiedAddress {
  const address = proxied.get(socket);
  if (address !== undefined) return address;
  return {
    clientIp: unmapIPv4(socket.remoteAddress ?? ''),
    clientPort: socket.remotePort ?? 0,
    destIp: unmapIPv4(socket.localAddress ?? ''),
    destPort: socket.localPort ?? 0,
  };
}
