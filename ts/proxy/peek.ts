import type { Socket } from 'node:net';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello, type ClientHelloResult } from './tls/client-hello.js';

export type PeekResult = ClientHelloResult | { kind: 'closed' } | { kind: 'timeout' };

/**
 * Reads the first bytes of a connection until they show a complete TLS
 * ClientHello, not TLS at all, or garbage; bounded by MAX_CLIENT_HELLO_BYTES
 * and a deadline so a silent or trickling client cannot hold the peek open.
 * The socket is left paused with nothing consumed: the bytes read are handed
 * back so the caller can forward them or unshift them.
 */
export function peekClientHello(socket: Socket, timeoutMs: number, done: (result: PeekResult, buffered: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  const finish = (result: PeekResult) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.pause();
    done(result, buffered);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const result = parseClientHello(buffered);
    if (result.kind !== 'incomplete') return finish(result);
    if (buffered.length >= MAX_CLIENT_HELLO_BYTES) finish({ kind: 'invalid', reason: 'no complete ClientHello within 64 KiB', alert: 'handshake_failure' });
  };
  const onEnd = () => finish({ kind: 'closed' });
  const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
}
