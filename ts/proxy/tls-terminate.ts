import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { ProxyContext } from './context.js';

/**
 * Terminates TLS on the raw socket in-process (no second loopback hop),
 * with a secure context chosen from the SNI we already read while peeking.
 * The peeked bytes are unshifted first: TLSSocket replays a wrapped
 * socket's buffered data into the TLS engine.
 */
export function terminateTls(
  ctx: ProxyContext,
  socket: Socket,
  peeked: Buffer,
  secureContext: SecureContext,
  alpn: string[] | undefined,
  onSecure: (tlsSocket: TLSSocket) => void,
): void {
  socket.unshift(peeked);
  const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: alpn });
  const handshakeTimer = setTimeout(() => tlsSocket.destroy(), ctx.timeouts.clientHelloMs);
  const fail = (error: Error) => {
    clearTimeout(handshakeTimer);
    ctx.logger.debug({ err: error.message }, 'TLS handshake failed');
    tlsSocket.destroy();
    socket.destroy();
  };
  tlsSocket.once('error', fail);
  tlsSocket.once('close', () => {
    clearTimeout(handshakeTimer);
    socket.destroy();
  });
  tlsSocket.once('secure', () => {
    clearTimeout(handshakeTimer);
    tlsSocket.off('error', fail);
    // Later errors (client resets) are handled by whoever owns the socket next; this keeps one always attached.
    tlsSocket.on('error', () => socket.destroy());
    onSecure(tlsSocket);
  });
}
