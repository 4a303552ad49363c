/**
 * Reads an upstream's HTTP/1.1 response from raw socket bytes for the
 * engine-neutral forwarder: the final head (interim 1xx skipped, invalid
 * heads refused), then the body decoded, whatever its framing, so the
 * engine's sink gets data only. Whether the upstream's bytes ended exactly
 * with the response is reported too: only then may its socket be reused.
 */
import { ChunkedScanner, chunkedError } from '../fast/chunked-scanner.js';
import { parseFinalResponseHead, responseHasNoBody, type ResponseHead } from '../fast/head-parser.js';

/** What the reader reports to; each call at most once per response except `responseData`. */
export interface ResponseListener {
  /** The final head; false when the listener refused it (the reader then reads no further). */
  responseHead(head: ResponseHead): boolean;
  /** Decoded body bytes. */
  responseData(piece: Buffer): void;
  /** The body is complete; `exact` when no byte followed it; `trailers` of a chunked body, [name, value, …]. */
  responseEnd(exact: boolean, trailers: readonly string[]): void;
  /** The head is not one the proxy relays. */
  responseInvalid(why: string): void;
  /** The body's chunked framing is broken after the head was handed on. */
  responseBroken(why: string): void;
}

const enum Body {
  None,
  Length,
  Chunked,
  /** Until the upstream closes (no framing header, or codings without chunked). */
  UntilClose,
}

export class ResponseReader {
  readonly #method: string;
  readonly #listener: ResponseListener;
  /** Head bytes read so far, until the head is complete. */
  #buf: Buffer | undefined;
  #head: ResponseHead | undefined;
  #body = Body.None;
  #left = 0;
  #chunks: ChunkedScanner | undefined;
  readonly #pieces: Buffer[] = [];
  /** Whether any byte of a response arrived: a request is then never sent again. */
  received = false;

  constructor(method: string, listener: ResponseListener) {
    this.#method = method;
    this.#listener = listener;
  }

  get head(): ResponseHead | undefined {
    return this.#head;
  }

  /** Once the head was read: whether the response has no body at all (no framing left to read). */
  get empty(): boolean {
    return this.#body === Body.None || (this.#body === Body.Length && this.#left === 0);
  }

  push(chunk: Buffer): void {
    this.received = true;
    if (this.#head !== undefined) return this.#readBody(chunk, 0);
    const { head, buf } = parseFinalResponseHead(this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]));
    if (head === 'incomplete') return void (this.#buf = buf);
    this.#buf = undefined;
    if (head === 'invalid') return this.#listener.responseInvalid('upstream sent an invalid response head');
    this.#head = head;
    if (responseHasNoBody(this.#method, head.status)) this.#body = Body.None;
    else if (head.chunked) this.#body = Body.Chunked;
    else if (!head.transferEncoded && head.contentLength >= 0) this.#body = Body.Length;
    else this.#body = Body.UntilClose;
    this.#left = head.contentLength;
    if (!this.#listener.responseHead(head)) return;
    // Bytes after a bodiless response mean the upstream is out of step: its socket is not reused.
    if (this.#body === Body.None || (this.#body === Body.Length && this.#left === 0)) return this.#listener.responseEnd(buf.length === head.size, []);
    this.#readBody(buf, head.size);
  }

  /** The upstream sent its FIN: true when that ends the response (an until-close body), false when it cut it short. */
  upstreamEnded(): boolean {
    if (this.#head === undefined || this.#body !== Body.UntilClose) return false;
    this.#listener.responseEnd(false, []);
    return true;
  }

  #readBody(chunk: Buffer, start: number): void {
    const listener = this.#listener;
    switch (this.#body) {
      case Body.Length: {
        const take = Math.min(this.#left, chunk.length - start);
        this.#left -= take;
        if (take > 0) listener.responseData(start === 0 && take === chunk.length ? chunk : chunk.subarray(start, start + take));
        if (this.#left === 0) listener.responseEnd(start + take === chunk.length, []);
        return;
      }
      case Body.Chunked: {
        const scanner = (this.#chunks ??= new ChunkedScanner(true));
        const out = this.#pieces;
        const end = scanner.scan(chunk, start, chunk.length, out);
        if (end === chunkedError) {
          out.length = 0;
          return listener.responseBroken('upstream sent a malformed chunked body');
        }
        for (let i = 0; i < out.length; i++) listener.responseData(out[i]!);
        out.length = 0;
        if (end !== -1) listener.responseEnd(end === chunk.length, scanner.trailers);
        return;
      }
      default:
        if (chunk.length > start) listener.responseData(start === 0 ? chunk : chunk.subarray(start));
    }
  }
}
