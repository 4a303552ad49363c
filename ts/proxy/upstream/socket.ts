import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { UpstreamTlsOptions } from '../tls/upstream-tls.js';
import type { UpstreamPool } from './pool.js';
import { ownReadBuffer } from './read-buffer.js';
import { connectionEnds } from '../proxy-protocol/client-address.js';
import { buildProxyHeader } from '../proxy-protocol/header.js';

/** Where an exchange goes: host and port, TLS settings for a re-encrypted upstream, and the pool key that says both. */
export interface UpstreamTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: UpstreamTlsOptions | undefined;
  readonly key: string;
}

const caIds = new WeakMap<readonly string[], number>();
let nextCaId = 0;

/**
 * The target for host:port, plain or TLS. A TLS key carries the SNI and
 * how the upstream is verified (no verification, the system store, or
 * which CA list), so a socket verified one way is never reused for a
 * request that asks for another.
 */
export function upstreamTarget(host: string, port: number, tls?: UpstreamTlsOptions): UpstreamTarget {
  if (tls === undefined) return { host, port, tls, key: `${host}:${port}` };
  let ca = 0;
  if (tls.ca !== undefined) {
    ca = caIds.get(tls.ca) ?? 0;
    if (ca === 0) caIds.set(tls.ca, (ca = ++nextCaId));
  }
  return { host, port, tls, key: `tls:${host}:${port}:${tls.servername ?? ''}:${tls.rejectUnauthorized ? ca || 'system' : 'unverified'}` };
}

/** What a leased upstream socket reports to: the client connection whose exchange it carries. */
export interface UpstreamOwner {
  /**
   * Response bytes. On a plain upstream `chunk` is a view into the socket's
   * reusable read buffer, valid until this returns: return true when it is
   * still referenced after (a queued write, a kept partial head), and the
   * socket reads into a fresh buffer from then on. `owned`: the chunk is the
   * owner's to keep (a copy, or a TLS socket's own buffer).
   */
  upstreamData(chunk: Buffer, owned: boolean): boolean;
  /** The upstream sent its FIN. */
  upstreamEnd(): void;
  /** The socket failed, closed or (with `timeout`) went quiet for upstreamResponseMs. */
  upstreamFailed(error: NodeJS.ErrnoException | undefined, timeout: boolean): void;
  upstreamConnected(): void;
  upstreamDrained(): void;
}

const kOwner = Symbol('owner');
const kPool = Symbol('pool');
/** A raw upstream socket; its listeners are attached once and dispatch to the current owner, so no exchange allocates closures. */
export type UpstreamSocket = Socket & { [kOwner]: UpstreamOwner | undefined; [kPool]: UpstreamPool };

/**
 * Opens a connection to an upstream (TLS for a re-encrypted one), owned by
 * `owner` from the start. `preface` (a PROXY header) is the first thing on
 * the wire, before any TLS handshake: the upstream reads it from the TCP
 * stream itself.
 */
export function connectUpstream(target: UpstreamTarget, pool: UpstreamPool, owner: UpstreamOwner, preface?: Buffer): UpstreamSocket {
  const { host, port, tls } = target;
  let opened: Socket;
  if (tls === undefined) {
    // A plain socket reads into one buffer of its own (node:tls has no such option, so a TLS one gets 'data' events).
    opened = connect({ host, port, noDelay: true, onread: ownReadBuffer((view, copied) => deliver(socket, view, copied)) });
    if (preface !== undefined) opened.write(preface);
  } else if (preface === undefined) {
    opened = connectTls({ host, port, ...tls });
  } else {
    const raw = connect({ host, port, noDelay: true });
    raw.write(preface);
    opened = connectTls({ ...tls, socket: raw });
  }
  const socket = opened as UpstreamSocket;
  if (tls !== undefined) {
    socket.setNoDelay(true);
    socket.on('data', onData);
  }
  socket[kOwner] = owner;
  socket[kPool] = pool;
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('timeout', onTimeout);
  socket.on('drain', onDrain);
  // A TLS upstream is connected once its handshake (and verification) is done: the connect timeout covers both.
  socket.once(tls === undefined ? 'connect' : 'secureConnect', onConnect);
  return socket;
}

/**
 * Gives an exchange's socket its response timeout. Set only when it differs
 * from the socket's current one: re-arming per request costs a timer insert,
 * and every read and write refreshes the timer anyway.
 */
export function armResponseTimeout(socket: Socket, ms: number): void {
  if (socket.timeout !== ms) socket.setTimeout(ms);
}

/**
 * The socket for one exchange, for every engine: the pooled one, leased to
 * `owner`, or else a new connection to `dest` that starts with a PROXY
 * header naming `client` when the target asks for one (`proxyProtocol`).
 */
export function exchangeSocket(pooled: Socket | undefined, dest: UpstreamTarget, pool: UpstreamPool, owner: UpstreamOwner, proxyProtocol: 'v1' | 'v2' | undefined, client: Socket): UpstreamSocket {
  if (pooled !== undefined) return lease(pooled, owner);
  return connectUpstream(dest, pool, owner, proxyProtocol === undefined ? undefined : buildProxyHeader(proxyProtocol, connectionEnds(client)));
}

/** Hands a socket taken from the pool to a new owner. */
export function lease(socket: Socket, owner: UpstreamOwner): UpstreamSocket {
  const s = socket as UpstreamSocket;
  s[kOwner] = owner;
  return s;
}

/** Ends the owner's claim: a socket whose exchange ended cleanly goes back to the pool, any other is destroyed. */
export function release(socket: UpstreamSocket, key: string, reusable: boolean): void {
  socket[kOwner] = undefined;
  if (!reusable) socket.destroy();
  socket[kPool].release(key, reusable ? socket : undefined);
}

function onData(this: UpstreamSocket, chunk: Buffer): void {
  deliver(this, chunk, true);
}

/** Bytes from the upstream to its owner; true when the owner still holds them. */
function deliver(socket: UpstreamSocket, chunk: Buffer, owned: boolean): boolean {
  const owner = socket[kOwner];
  if (owner !== undefined) return owner.upstreamData(chunk, owned);
  // An idle upstream that speaks unasked is out of step: it must never answer a later request.
  socket[kPool].drop(socket);
  return false;
}

function onEnd(this: UpstreamSocket): void {
  const owner = this[kOwner];
  if (owner === undefined) this[kPool].drop(this);
  else owner.upstreamEnd();
}

function onError(this: UpstreamSocket, error: NodeJS.ErrnoException): void {
  const owner = this[kOwner];
  this[kOwner] = undefined;
  if (owner === undefined) this[kPool].drop(this);
  else owner.upstreamFailed(error, false);
  this.destroy();
}

function onClose(this: UpstreamSocket): void {
  const owner = this[kOwner];
  this[kOwner] = undefined;
  if (owner === undefined) this[kPool].drop(this);
  else owner.upstreamFailed(undefined, false);
}

function onTimeout(this: UpstreamSocket): void {
  const owner = this[kOwner];
  this[kOwner] = undefined;
  if (owner === undefined) this[kPool].drop(this);
  else owner.upstreamFailed(undefined, true);
  this.destroy();
}

function onDrain(this: UpstreamSocket): void {
  this[kOwner]?.upstreamDrained();
}

function onConnect(this: UpstreamSocket): void {
  this[kOwner]?.upstreamConnected();
}
