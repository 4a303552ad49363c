/**
 * The Node engine serves one request at a time per connection, as the fast
 * engine does. Node's server parses pipelined requests as they arrive and
 * hands them over at once; forwarding them at once meant a request could
 * run upstream while the connection was already doomed to close after the
 * one before it (its answer lost), an automatic `100 Continue` could be
 * written after the final head of a queued response, and a parse error on
 * a later request wrote `400` in front of answers still owed. Here a
 * request starts only when the previous response is done, a `100 Continue`
 * goes out when its request starts, and a parse error is answered only
 * when no answer is owed on the connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Connection {
  /** The response being produced, with its request; undefined between requests. */
  current: { req: IncomingMessage; res: ServerResponse } | undefined;
  /** Requests parsed while another was answered, in order. */
  readonly queue: { req: IncomingMessage; res: ServerResponse; start: () => void }[];
  /** The most recent request Node handed over: a parse error after it concerns its body. */
  last: IncomingMessage | undefined;
  /** A parse error came in: answer what is owed, then close. */
  closing: boolean;
}

const connections = new WeakMap<Socket, Connection>();

/** Runs `start` for this request once every earlier request on its connection has been answered. */
export function serveInOrder(req: IncomingMessage, res: ServerResponse, start: () => void): void {
  const socket = req.socket;
  let connection = connections.get(socket);
  if (connection === undefined) connections.set(socket, (connection = { current: undefined, queue: [], last: undefined, closing: false }));
  connection.last = req;
  if (connection.current === undefined) begin(connection, socket, req, res, start);
  else connection.queue.push({ req, res, start });
}

function begin(connection: Connection, socket: Socket, req: IncomingMessage, res: ServerResponse, start: () => void): void {
  connection.current = { req, res };
  res.once('close', () => {
    connection.current = undefined;
    const next = connection.queue.shift();
    // A connection that ends after this response (Connection: close, HTTP/1.0, a parse error) runs no more requests.
    if (connection.closing || socket.destroyed || socket.writableEnded || !socket.writable) {
      connection.queue.length = 0;
      if (connection.closing) socket.end();
      return;
    }
    if (next !== undefined) begin(connection, socket, next.req, next.res, next.start);
  });
  // Node sends no 100 Continue itself (the server listens for checkContinue): it goes out now, when this request is the one answered.
  if (isContinueExpected(req) && !res.headersSent) res.writeContinue();
  start();
}

function isContinueExpected(req: IncomingMessage): boolean {
  const expect = req.headers.expect;
  return expect !== undefined && expect.toLowerCase() === '100-continue';
}

/**
 * What to do about a parse error on a connection of Node's server (which
 * ends it, whatever the answer): `answer` with a 400 (the error is in a new
 * head, or in the body of the request being answered before its answer began);
 * `wait` (answers are owed: give them, then close); `cut` (the body of a
 * request whose answer is owed or given broke: no status line can be
 * placed correctly any more).
 */
export function parseErrorAction(socket: Socket): 'answer' | 'wait' | 'cut' {
  const connection = connections.get(socket);
  if (connection === undefined) return 'answer';
  const current = connection.current;
  connection.closing = true;
  // The body of the request being answered broke: its answer is the 400, unless one had begun.
  if (current !== undefined && !current.req.complete) return current.res.headersSent ? 'cut' : 'answer';
  if (current !== undefined || connection.queue.length > 0) {
    connection.queue.length = 0;
    return 'wait';
  }
  if (connection.last !== undefined && !connection.last.complete) return 'cut';
  return 'answer';
}
