import type { Socket } from 'node:net';

/**
 * Fatal TLS alerts the proxy sends itself, before any TLS library has seen
 * the connection: when the ClientHello cannot be read or names nothing we
 * serve. A client then reports why (curl: "unrecognized name") instead of
 * an unexplained "connection reset" or an empty reply.
 */
export const tlsAlerts = Object.freeze({
  /** 40: the hello parses but is not one we will negotiate (SSLv2, not a client_hello, too large). */
  handshake_failure: 40,
  /** 50: a length or field in the hello cannot be read. */
  decode_error: 50,
  /** 80: we have no certificate for the name yet (an ACME order is still running). */
  internal_error: 80,
  /** 112: no route serves the SNI name (RFC 6066 §3). */
  unrecognized_name: 112,
});

export type TlsAlertName = keyof typeof tlsAlerts;

const ALERT_RECORD = 0x15;
const LEVEL_FATAL = 2;

/**
 * Writes one fatal alert record and closes the connection. The record says
 * TLS 1.2 (0x0303): it is what servers answer a hello with before a version
 * is agreed, and every TLS 1.0–1.3 client reads it. Any bytes still arriving
 * are dropped; the socket is destroyed once the alert is flushed, or at once
 * if it cannot be written.
 */
export function sendAlertAndClose(socket: Socket, alert: TlsAlertName): void {
  if (socket.destroyed) return;
  if (!socket.writable) return void socket.destroy();
  // Flowing with no reader drops what the client still sends; a paused socket holding input would delay the close.
  socket.resume();
  socket.end(Buffer.from([ALERT_RECORD, 0x03, 0x03, 0x00, 0x02, LEVEL_FATAL, tlsAlerts[alert]]));
  // end() waits for the peer's FIN with allowHalfOpen; we do not.
  socket.once('finish', () => socket.destroy());
}
