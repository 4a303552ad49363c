import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { ProxyContext } from '../context.js';

/**
 * Terminates TLS on the raw socket in-process (no second loopback hop),
 * with a secure context chosen from the SNI we already read while peeking.
 * The peeked bytes are unshifted first: TLSSocket replays a wrapped
 * socket's buffered data into the TLS engine.
 *
 * The socket is a server-side TLSSocket built here rather than by a
 * tls.Server, because the context is chosen per connection before the
 * handshake (route, SNI and client address) and a tls.Server can only pick
 * one from the SNI. So this does what tls.Server's connection listener
 * does: it listens for '_tlsError', the event every TLS-level failure is
 * reported on (a tls.Server listens to the same one; a TLSSocket whose
 * control was never released to a server never turns these into 'error').
 * Without it a renegotiation flood (ERR_TLS_SESSION_ATTACK) or a corrupt
 * record after the handshake left the connection open until some idle
 * timeout. Now any TLS error closes it at once, before and after the
 * handshake alike.
 *
 * Renegotiation is refused twice over: by OpenSSL (SSL_OP_NO_RENEGOTIATION
 * in every context, see secureContextPolicyOptions) and by Node
 * (disableRenegotiation(), which fails the connection if a renegotiation
 * handshake starts anyway).
 */
/** The plain socket under each TLS socket this module made: the one the connection tracker counts. */
const transports = new WeakMap<TLSSocket, Socket>();

/** The accepted socket a terminated TLS socket runs on; the socket itself when it is not one of ours. */
export function transportOf(socket: Socket): Socket {
  return transports.get(socket as TLSSocket) ?? socket;
}

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
  transports.set(tlsSocket, socket);
  tlsSocket.disableRenegotiation();
  let secure = false;
  const handshakeTimer = setTimeout(() => fail(new Error(`TLS handshake not finished within timeouts.clientHelloMs (${ctx.timeouts.clientHelloMs} ms)`)), ctx.timeouts.clientHelloMs);
  const fail = (error: Error) => {
    clearTimeout(handshakeTimer);
    if (!tlsSocket.destroyed || !socket.destroyed) {
      const code = (error as NodeJS.ErrnoException).code;
      ctx.logger.debug({ err: error.message, code }, secure ? 'TLS error after the handshake; closing the connection' : 'TLS handshake failed');
    }
    tlsSocket.destroy();
    socket.destroy();
  };
  tlsSocket.on('_tlsError', fail);
  // 'error' also carries socket-level failures (resets); whoever owns the socket next adds its own handler too.
  tlsSocket.on('error', fail);
  tlsSocket.once('close', () => {
    clearTimeout(handshakeTimer);
    socket.destroy();
  });
  tlsSocket.once('secure', () => {
    clearTimeout(handshakeTimer);
    secure = true;
    onSecure(tlsSocket);
  });
}
