import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { httpDate } from './http/date.js';

/** A short plain-text answer from the proxy itself (404, 403, 502, …). */
export function sendStatus(res: ServerResponse, status: number, detail?: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}${detail ? `: ${detail}` : ''}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/**
 * The same answer as raw bytes, for sockets no http.Server writes to (the
 * fast path, a refused upgrade). An answer to HEAD has no body (RFC 9110
 * §9.3.2): a client would read one as the start of the next response.
 */
export function rawStatusResponse(status: number, detail: string | undefined, close: boolean, toHead = false, extraHeaders = ''): string {
  const text = STATUS_CODES[status] ?? '';
  const body = `${status} ${text}${detail ? `: ${detail}` : ''}\n`;
  return (
    `HTTP/1.1 ${status} ${text}\r\nDate: ${httpDate()}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${close ? 'Connection: close\r\n' : ''}${extraHeaders}\r\n${toHead ? '' : body}`
  );
}

/** Answers and closes a socket that has left the HTTP parser (a refused WebSocket upgrade). */
export function writeRawStatus(socket: Socket, status: number): void {
  socket.end(rawStatusResponse(status, undefined, true));
}
