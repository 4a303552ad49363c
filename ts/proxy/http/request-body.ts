/**
 * Sends a decoded request body (Node's parser, HTTP/2 DATA) to a raw
 * upstream socket in the framing its head announced: as is under a
 * Content-Length, else chunk-encoded. The body is read only while the
 * socket takes it (back-pressure: a full socket pauses the body, the
 * socket's drain resumes it), and a body that does not match its
 * Content-Length is never sent on as if it did.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** What the sender reports to. */
export interface BodyListener {
  /** The whole body went out, its framing closed. */
  bodySent(): void;
  /** The body is longer or shorter than its Content-Length: the upstream connection cannot go on. */
  bodyMismatch(): void;
}

export class RequestBodySender {
  readonly #body: Readable;
  /** Bytes a Content-Length body still owes; -1 for a chunked one. */
  #left: number;
  readonly #listener: BodyListener;
  #socket: Socket | undefined;

  /** `length`: the Content-Length sent upstream, or 'chunked'. */
  constructor(body: Readable, length: number | 'chunked', listener: BodyListener) {
    this.#body = body;
    this.#left = length === 'chunked' ? -1 : length;
    this.#listener = listener;
  }

  /** Starts reading the body into `socket`, once a connection took the request (so a failover before it has all of it). */
  start(socket: Socket): void {
    this.#socket = socket;
    this.#body.on('data', this.#onData);
    this.#body.once('end', this.#onEnd);
    this.#body.resume();
  }

  /** The socket drained: the body may flow again. */
  resume(): void {
    if (this.#socket !== undefined) this.#body.resume();
  }

  /**
   * Sends nothing more: the exchange ended or was abandoned. What is left
   * of the body is read and dropped, so Node's parser can move on to the
   * connection's next request.
   */
  stop(): void {
    if (this.#socket === undefined) return;
    this.#socket = undefined;
    this.#body.off('data', this.#onData);
    this.#body.off('end', this.#onEnd);
    this.#body.resume();
  }

  readonly #onData = (chunk: Buffer): void => {
    const socket = this.#socket!;
    if (chunk.length === 0) return;
    let ok: boolean;
    if (this.#left === -1) {
      // One chunk per piece read; an empty one would end the body, so none is written (above).
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      if (chunk.length > this.#left) return this.#mismatch();
      this.#left -= chunk.length;
      ok = socket.write(chunk);
    }
    if (!ok) this.#body.pause();
  };

  readonly #onEnd = (): void => {
    const socket = this.#socket!;
    if (this.#left === -1) socket.write('0\r\n\r\n', 'latin1');
    else if (this.#left !== 0) return this.#mismatch();
    this.stop();
    this.#listener.bodySent();
  };

  #mismatch(): void {
    this.stop();
    this.#listener.bodyMismatch();
  }
}
