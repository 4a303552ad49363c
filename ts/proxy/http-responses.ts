import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { httpDate } from './http/date.js';

/**
 * Where the proxy's own answers are written: Node's ServerResponse, or the
 * HTTP/2 engine's adapter of a stream, so each answer is written once for both.
 */
export interface ActionResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body?: string): unknown;
  destroy(): unknown;
}

/** What the proxy's own answers read of the request. */
export interface ActionRequest {
  readonly url?: string | undefined;
  readonly method?: string | undefined;
}

/** A short plain-text answer from the proxy itself (404, 403, 502, …). */
export function sendStatus(res: ActionResponse, status: number, detail?: string, close = false, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}${detail ? `: ${detail}` : ''}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
    ...extra,
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
