/**
 * Reads the PROXY header a trusted balancer sends first on a connection,
 * before anything else reads the socket: within `timeoutMs` (the
 * clientHelloMs budget), at most one header's worth of bytes, and the bytes
 * after it handed back for the rest of the pipeline.
 */
import type { Socket } from 'node:net';
import { parseProxyHeader, type ParseResult } from './header.js';

export type ReadResult = Exclude<ParseResult, { kind: 'incomplete' }> | { kind: 'timeout' } | { kind: 'closed' };

/** Calls `done` once with the header (or why there is none) and the bytes read after it. */
export function readProxyHeader(socket: Socket, timeoutMs: number, done: (result: ReadResult, rest: Buffer | undefined) => void): void {
  let buf: Buffer | undefined;
  let settled = false;
  const finish = (result: ReadResult, rest: Buffer | undefined) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    // Read in paused mode ('readable'), never flowing: once this listener is
    // gone the socket is as it was accepted, so whoever reads next (the TLS
    // peek, the HTTP engine, a TCP pipe that waits for its upstream) loses nothing.
    socket.off('readable', onReadable);
    socket.off('close', onClose);
    done(result, rest);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const result = parseProxyHeader(buf);
      if (result.kind === 'incomplete') continue;
      if (result.kind === 'invalid') return finish(result, undefined);
      return finish(result, buf.length > result.size ? buf.subarray(result.size) : undefined);
    }
  };
  const onClose = () => finish({ kind: 'closed' }, undefined);
  const timer = setTimeout(() => finish({ kind: 'timeout' }, undefined), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('close', onClose);
}
