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
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    done(result, rest);
  };
  const onData = (chunk: Buffer) => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    const result = parseProxyHeader(buf);
    if (result.kind === 'incomplete') return;
    if (result.kind === 'invalid') return finish(result, undefined);
    finish(result, buf.length > result.size ? buf.subarray(result.size) : undefined);
  };
  const onClose = () => finish({ kind: 'closed' }, undefined);
  const timer = setTimeout(() => finish({ kind: 'timeout' }, undefined), timeoutMs);
  socket.on('data', onData);
  socket.once('close', onClose);
}
