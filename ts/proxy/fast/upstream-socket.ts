import { connect, type Socket } from 'node:net';
import type { UpstreamPool } from './upstream-pool.js';

/** What a leased upstream socket reports to: the client connection whose exchange it carries. */
export interface UpstreamOwner {
  upstreamData(chunk: Buffer): void;
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

/** Opens a plain TCP connection to an upstream, owned by `owner` from the start. */
export function connectUpstream(host: string, port: number, pool: UpstreamPool, owner: UpstreamOwner): UpstreamSocket {
  const socket = connect({ host, port, noDelay: true }) as UpstreamSocket;
  socket[kOwner] = owner;
  socket[kPool] = pool;
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('timeout', onTimeout);
  socket.on('drain', onDrain);
  socket.once('connect', onConnect);
  return socket;
}

/** Hands a socket taken from the pool to a new owner. */
export function lease(socket: Socket, owner: UpstreamOwner): UpstreamSocket {
  const s = socket as UpstreamSocket;
  s[kOwner] = owner;
  return s;
}

/** Ends the owner's claim: the socket goes back to the pool or is destroyed. */
export function release(socket: UpstreamSocket, key: string | undefined): void {
  socket[kOwner] = undefined;
  if (key === undefined) socket.destroy();
  else socket[kPool].put(key, socket);
}

function onData(this: UpstreamSocket, chunk: Buffer): void {
  const owner = this[kOwner];
  // An idle upstream that speaks unasked is out of step: it must never answer a later request.
  if (owner === undefined) this[kPool].drop(this);
  else owner.upstreamData(chunk);
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
