import type { Socket } from 'node:net';
import type { Route } from '../../routing/route.js';
import { routeTimeout, type ProxyContext } from '../context.js';
import { matchRequest } from '../http-handler.js';
import { admitRequest, closesAfterResponse, finishRequest } from '../http/admission.js';
import { exhaustedFailure, failureStatus, isRetryable, isStaleConnectionError, retryAfterSeconds, type UpstreamFailure } from '../http/upstream-failure.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import type { Upstream } from '../balancer/upstream.js';
import { noteUpstream, noteUpstreamResponse } from '../access-log.js';
import { ChunkedScanner, chunkedError } from './chunked-scanner.js';
import { parseFinalResponseHead, parseRequestHead, responseHasNoBody, type RequestHead, type ResponseHead } from './head-parser.js';
import type { UpstreamPool } from '../upstream/pool.js';
import { rawStatusResponse } from '../http-responses.js';
import { clientResponseHead, upstreamRequestHead } from './messages.js';
import { armResponseTimeout, exchangeSocket, release, type UpstreamOwner, type UpstreamSocket, type UpstreamTarget } from '../upstream/socket.js';
import { exchangeDest } from '../upstream/dest.js';
import { writeKeepsChunk, writesThrough } from '../upstream/read-buffer.js';

/** The empty list every connection starts with (tried targets, body bytes to replay): made per connection only when needed. */
const none = Object.freeze([]) as never[];
/** What a chunked body scan hands on; shared, as each scan's pieces are written out before the next scan. */
const pieces: Buffer[] = [];

const kConnection = Symbol('fastConnection');
type ClientSocket = Socket & { [kConnection]?: FastConnection | undefined };

/** Bodies up to this size that arrive with their head are copied out and sent in one write with it. */
const smallBody = 16 * 1024;

const enum Phase {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** The request is read; waiting for a socket to its target (which is at its per-target cap). */
  Queued,
  /** Streaming the request body upstream. */
  Body,
  /** The request is sent; waiting for the response to end. */
  Wait,
  /** Closed or handed over to Node. */
  Gone,
}

const enum ResBody {
  None,
  Length,
  Chunked,
  /** Until the upstream closes; re-chunked for the client. */
  UntilClose,
}

/**
 * What a connection needs from the FastFront that owns it. Declared here,
 * not imported, so fast-front.ts and this file do not import each other.
 */
export interface ConnectionOwner {
  readonly pool: UpstreamPool;
  forget(connection: FastConnection): void;
  handOver(port: number, socket: Socket): void;
}

/**
 * One plain-HTTP client connection on the fast path: reads request heads,
 * routes each one as http-handler.ts does, and forwards ordinary requests
 * over a pooled raw upstream socket with both bodies' framing tracked.
 * Anything else hands the connection, at a request boundary, to Node's
 * HTTP server for the rest of its life. One exchange at a time; pipelined
 * requests wait in the buffer.
 */
export class FastConnection implements UpstreamOwner {
  readonly #front: ConnectionOwner;
  readonly #ctx: ProxyContext;
  readonly #socket: Socket;
  readonly #port: number;
  /** Client bytes read but not yet consumed. */
  #buf: Buffer | undefined;
  #phase = Phase.Head;
  /** When the current wait ends (ms since epoch), 0 for none; swept by FastFront. */
  deadline = 0;
  /** Whether the deadline is a keep-alive idle one (close) or headersMs (408). */
  #idle = false;

  // The exchange in flight.
  #route: Route | undefined;
  #head: RequestHead | undefined;
  #upstream: UpstreamSocket | undefined;
  #upstreamHead = '';
  /** Where the exchange's socket goes, and its pool key. */
  #dest: UpstreamTarget | undefined;
  /** Body bytes a second try writes again. */
  #replay: Buffer[] = none;
  #hasBody = false;
  /** Withdraws an ask for an upstream socket still waiting in the pool. */
  #withdraw: () => void = noop;
  #reused = false;
  #mayRetry = false;
  #connectTimer: NodeJS.Timeout | undefined;
  #reqLeft = 0;
  /** Made on the first chunked body: an idle keep-alive connection should hold as little as possible. */
  #reqChunks: ChunkedScanner | undefined;
  #reqDone = false;
  #resBuf: Buffer | undefined;
  #resHead: ResponseHead | undefined;
  #resBody = ResBody.None;
  #resLeft = 0;
  #resChunks: ChunkedScanner | undefined;
  #resStarted = false;
  #closeAfter = false;
  // ---- balancer: the exchange's target, the ones it failed on, and body bytes a failed connect must replay ----
  #facts: ForwardedFacts | undefined;
  #target: Upstream | undefined;
  #tried: Upstream[] = none;
  #connected = false;
  #unsent: Buffer[] = none;
  /** The status the client was answered, for the access log. */
  #status = 0;

  constructor(front: ConnectionOwner, ctx: ProxyContext, socket: Socket, port: number, peeked: Buffer | undefined) {
    this.#front = front;
    this.#ctx = ctx;
    this.#socket = socket;
    this.#port = port;
    this.#buf = peeked;
    socket.setNoDelay(true);
    (socket as ClientSocket)[kConnection] = this;
    socket.on('data', FastConnection.#onData);
    socket.on('end', FastConnection.#onEnd);
    socket.on('close', FastConnection.#onClose);
    socket.on('drain', FastConnection.#onDrain);
    this.deadline = Date.now() + ctx.timeouts.headersMs;
  }

  /** Starts reading: serves what was peeked already, then whatever arrives. */
  start(): void {
    if (this.#buf !== undefined && this.#buf.length > 0) this.#next();
    if (this.#phase !== Phase.Gone) this.#socket.resume();
  }

  /** The deadline passed: 408 while a head was awaited, a silent close for an idle keep-alive connection. */
  expire(): void {
    if (this.#phase !== Phase.Head) return;
    if (this.#idle) return void this.#socket.destroy();
    this.#ctx.limitReporter.hit('timeouts.headersMs', { port: this.#port });
    this.#ctx.metrics.answered(this.#port, 408);
    this.#gone();
    this.#socket.end(rawStatusResponse(408, 'the request head did not arrive in time', true));
  }

  // The socket's listeners are shared by every connection (the socket names its own): closures per connection were a good part of an idle one's memory.
  static #onData(this: ClientSocket, chunk: Buffer): void {
    this[kConnection]!.#data(chunk);
  }

  static #onEnd(this: ClientSocket): void {
    // The socket is not half-open: its side ends too, so nothing more can be answered.
    this.destroy();
  }

  static #onClose(this: ClientSocket): void {
    this[kConnection]!.#closed();
  }

  static #onDrain(this: ClientSocket): void {
    this[kConnection]!.#upstream?.resume();
  }

  #data(chunk: Buffer): void {
    switch (this.#phase) {
      case Phase.Head:
        this.#buf = this.#buf === undefined || this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
        if (this.#idle) {
          this.#idle = false;
          this.deadline = Date.now() + this.#ctx.timeouts.headersMs;
        }
        return this.#next();
      case Phase.Body:
        return this.#requestBody(chunk);
      case Phase.Queued:
      case Phase.Wait:
        // The body or a pipelined request: kept for later, and the client held back once a head's worth is waiting.
        this.#buf = this.#buf === undefined || this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
        if (this.#buf.length > this.#ctx.limits.maxHeaderBytes) this.#socket.pause();
        return;
      default:
    }
  }

  #closed(): void {
    const phase = this.#phase;
    this.#gone();
    this.#withdraw();
    if (phase === Phase.Queued || phase === Phase.Body || phase === Phase.Wait) {
      // A client that goes away aborts its exchange; the upstream socket is never pooled mid-exchange.
      this.#dropUpstream();
      this.#finish();
    }
  }

  /** Reads the next request head from the buffer and starts its exchange, or hands the connection over. */
  #next(): void {
    const buf = this.#buf;
    if (buf === undefined || buf.length === 0) return;
    const head = parseRequestHead(buf, 0, this.#ctx.limits.maxHeaderBytes);
    if (head === 'incomplete') return;
    if (head === 'handover' || head === 'invalid') return this.#handover();
    const req = { url: head.target as string | undefined, method: head.method, httpVersion: '1.1', headers: { host: head.host }, rawHeaders: head.rawHeaders, socket: this.#socket };
    const matched = matchRequest(this.#ctx, this.#port, req);
    if ('status' in matched) return this.#refuse(head, matched.status, matched.detail);
    const route = matched.route;
    if (route.requestHandler !== undefined || route.action.type !== 'forward') return this.#handover();
    if (!admitRequest(this.#ctx, route, this.#socket)) {
      this.#ctx.metrics.answered(this.#port, 503);
      return this.#refuse(head, 503, 'route is at its connection limit');
    }
    this.deadline = 0;
    this.#route = route;
    this.#head = head;
    this.#reqDone = false;
    this.#resStarted = false;
    this.#resHead = undefined;
    this.#resBuf = undefined;
    this.#closeAfter = head.close;
    this.#status = 0;
    this.#facts = matched.facts;
    this.#tried = none;
    const target = route.state.balancer!.select(matched.facts.clientIp);
    this.#upstreamHead = upstreamRequestHead(head, req.url ?? head.target, matched.facts, this.#ctx.trustedProxies);
    const framing = head.framing;
    this.#hasBody = framing.kind === 'chunked' || (framing.kind === 'length' && framing.length > 0);
    this.#mayRetry = isRetryable(head.method, this.#hasBody);
    this.#buf = buf.length === head.size ? undefined : buf.subarray(head.size);
    if (target === undefined) {
      this.#reqDone = !this.#hasBody;
      this.#phase = Phase.Wait;
      return this.#fail('no-target', 'no upstream target is available');
    }
    this.#setTarget(target);
    this.#phase = Phase.Queued;
    this.#withdraw = this.#front.pool.acquire(this.#dest!.key, this.#granted);
  }

  /** A socket to the target can be had (at once, unless the target is at its cap): the exchange starts. */
  readonly #granted = (pooled: Socket | undefined): void => {
    this.#withdraw = noop;
    // The client left while the ask waited: the slot goes back untouched.
    if (this.#phase !== Phase.Queued) return this.#front.pool.release(this.#dest!.key, pooled);
    this.#send(pooled);
    if (!this.#hasBody) return this.#requestEnded();
    const framing = this.#head!.framing;
    this.#phase = Phase.Body;
    this.#reqLeft = framing.kind === 'length' ? framing.length : 0;
    if (framing.kind === 'chunked') (this.#reqChunks ??= new ChunkedScanner()).reset();
    const rest = this.#buf;
    this.#buf = undefined;
    if (rest !== undefined) this.#requestBody(rest);
  };

  /** Asks the pool for the slot a second try runs on (to the target #setTarget chose). */
  #askRetrySlot(): void {
    this.#withdraw = this.#front.pool.acquire(this.#dest!.key, (pooled) => this.#retryGranted(pooled));
  }

  /**
   * The slot for a second try (a stale pooled socket, or a failover to
   * another target): always on a fresh connection, with the body bytes the
   * failed one took written again.
   */
  #retryGranted(pooled: Socket | undefined): void {
    this.#withdraw = noop;
    if (this.#phase === Phase.Gone) return this.#front.pool.release(this.#dest!.key, pooled);
    // Another pooled socket may be as stale as the last one: this slot opens its own connection instead.
    pooled?.destroy();
    this.#send(undefined);
    const replay = this.#replay;
    this.#replay = none;
    let ok = true;
    for (const piece of replay) ok = this.#writeUpstream(piece) && ok;
    // A client paused for the failed socket's sake would wait for a drain the new one never sends.
    if (ok && this.#phase === Phase.Body) this.#socket.resume();
  }

  /**
   * The exchange goes to `target`: counted in flight there
   * (least-connections), its socket pooled as exchangeDest says.
   */
  #setTarget(target: Upstream): void {
    const route = this.#route!;
    const balancer = route.state.balancer!;
    if (this.#target !== undefined) balancer.release(this.#target);
    balancer.acquire(target);
    this.#target = target;
    this.#dest = exchangeDest(route, target, this.#port, this.#facts!.host, this.#socket);
  }

  /** Writes the request head to a pooled socket, or to a new connection when there is none. */
  #send(pooled: Socket | undefined): void {
    const route = this.#route!;
    const upstream = exchangeSocket(pooled, this.#dest!, this.#front.pool, this, this.#target!.proxyProtocol, this.#socket);
    this.#reused = pooled !== undefined;
    this.#connected = pooled !== undefined;
    if (pooled === undefined) {
      this.#connectTimer = setTimeout(FastConnection.#connectTimedOut, routeTimeout(this.#ctx, route, 'upstreamConnectMs'), this);
    }
    this.#upstream = upstream;
    if (this.#ctx.accessLog !== undefined) noteUpstream(this.#socket, this.#target!.key);
    armResponseTimeout(upstream, routeTimeout(this.#ctx, route, 'upstreamResponseMs'));
    upstream.write(this.#upstreamHead, 'latin1');
  }

  static #connectTimedOut(connection: FastConnection): void {
    connection.#connectTimer = undefined;
    if (connection.#upstream === undefined) return;
    connection.#dropUpstream();
    connection.#failover('connect-timeout', 'upstream connect timed out');
  }

  /** Body bytes go upstream; until the connection is up they are kept too, so a failover can replay them. */
  #writeUpstream(piece: Buffer): boolean {
    if (!this.#connected) {
      if (this.#unsent === none) this.#unsent = [];
      this.#unsent.push(piece);
    }
    return this.#upstream!.write(piece);
  }

  /**
   * The target did not take the connection: nothing reached it, so the
   * request (with any body bytes written so far) goes to the next target,
   * whatever its method. None left: the failure's own answer, or 503.
   */
  #failover(failure: UpstreamFailure, message: string): void {
    const route = this.#route!;
    const balancer = route.state.balancer!;
    const target = this.#target!;
    balancer.reportFailure(target, this.#ctx.logger, route.name);
    this.#tried = [...this.#tried, target];
    const next = balancer.select(this.#facts!.clientIp, this.#tried);
    if (next === undefined) return this.#fail(exhaustedFailure(failure, balancer.targets.length), message);
    this.#ctx.logger.warn({ route: route.name, target: target.key, next: next.key, err: message }, 'upstream connection failed; trying the next target');
    this.#replay = this.#unsent;
    this.#unsent = none;
    this.#setTarget(next);
    this.#askRetrySlot();
  }

  /** Forwards request body bytes as they are, up to the end of the body; the rest is the next request. */
  #requestBody(chunk: Buffer): void {
    const head = this.#head!;
    let end: number;
    if (head.framing.kind === 'length') {
      end = Math.min(this.#reqLeft, chunk.length);
      this.#reqLeft -= end;
      if (this.#reqLeft > 0) end = -1;
      const piece = end === -1 || end === chunk.length ? chunk : chunk.subarray(0, end);
      if (this.#upstream !== undefined && !this.#writeUpstream(piece)) this.#socket.pause();
    } else {
      const out = pieces;
      end = this.#reqChunks!.scan(chunk, 0, chunk.length, out);
      if (end === chunkedError) {
        out.length = 0;
        return this.#badRequestBody();
      }
      if (this.#upstream !== undefined) {
        let ok = true;
        for (let i = 0; i < out.length; i++) ok = this.#writeUpstream(out[i]!) && ok;
        if (!ok) this.#socket.pause();
      }
      out.length = 0;
    }
    if (end === -1) return;
    if (end < chunk.length) this.#buf = chunk.subarray(end);
    this.#requestEnded();
  }

  /** A chunked request body that is not valid chunked: the exchange cannot go on on either connection. */
  #badRequestBody(): void {
    this.#dropUpstream();
    this.#closeAfter = true;
    if (this.#resStarted) return void this.#socket.destroy();
    this.#ctx.metrics.answered(this.#port, 400);
    this.#respond(400, 'the chunked request body is malformed');
  }

  #requestEnded(): void {
    this.#reqDone = true;
    if (this.#phase === Phase.Gone) return;
    this.#phase = Phase.Wait;
    if (this.#buf !== undefined && this.#buf.length > this.#ctx.limits.maxHeaderBytes) this.#socket.pause();
  }

  upstreamConnected(): void {
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#connected = true;
    this.#unsent = none;
    if (this.#target !== undefined) this.#route?.state.balancer!.reportSuccess(this.#target);
  }

  upstreamDrained(): void {
    if (this.#phase === Phase.Body) this.#socket.resume();
  }

  upstreamData(chunk: Buffer): boolean {
    // Each delivery writes to the client once, or corks its writes into one batch: see writeKeepsChunk.
    const through = writesThrough(this.#socket);
    if (this.#resHead === undefined) this.#responseHead(chunk);
    else this.#responseBody(chunk, 0);
    return writeKeepsChunk(this.#socket, through);
  }

  #responseHead(chunk: Buffer): void {
    const { head, buf } = parseFinalResponseHead(this.#resBuf === undefined ? chunk : Buffer.concat([this.#resBuf, chunk]));
    // A partial head is kept past this read, so it is copied out of the socket's reusable read buffer.
    if (head === 'incomplete') return void (this.#resBuf = buf.buffer === chunk.buffer ? Buffer.from(buf) : buf);
    this.#resBuf = undefined;
    if (head === 'invalid') {
      this.#dropUpstream();
      return this.#fail('invalid-response', 'upstream sent an invalid response head');
    }
    this.#resHead = head;
    this.#status = head.status;
    if (this.#ctx.accessLog !== undefined) noteUpstreamResponse(this.#socket);
    const method = this.#head!.method;
    const route = this.#route!;
    if (closesAfterResponse(route)) this.#closeAfter = true;
    if (responseHasNoBody(method, head.status)) this.#resBody = ResBody.None;
    else if (head.chunked) this.#resBody = ResBody.Chunked;
    else if (!head.transferEncoded && head.contentLength >= 0) this.#resBody = ResBody.Length;
    else this.#resBody = ResBody.UntilClose;
    this.#resLeft = head.contentLength;
    if (this.#resBody === ResBody.Chunked) (this.#resChunks ??= new ChunkedScanner()).reset();
    // Chunked or until-close bodies both reach the client chunked, behind the upstream's other codings.
    const chunked = this.#resBody === ResBody.Chunked || this.#resBody === ResBody.UntilClose;
    const framing = !chunked ? undefined : head.codings.length === 0 ? 'chunked' : `${head.codings.join(', ')}, chunked`;
    const text = clientResponseHead(head, framing, this.#closeAfter, this.#facts);
    const socket = this.#socket;
    this.#resStarted = true;
    const bodyEnd = head.size + head.contentLength;
    if (this.#resBody === ResBody.Length && head.contentLength <= smallBody && bodyEnd <= buf.length) {
      // A small body that came whole with its head leaves in one write with it (a corked pair would cost a writev).
      const out = Buffer.allocUnsafe(text.length + head.contentLength);
      out.write(text, 0, 'latin1');
      buf.copy(out, text.length, head.size, bodyEnd);
      this.#resLeft = 0;
      if (!socket.write(out)) this.#upstream?.pause();
      return this.#responseEnded(bodyEnd === buf.length);
    }
    socket.cork();
    socket.write(text, 'latin1');
    if (this.#resBody === ResBody.None || (this.#resBody === ResBody.Length && head.contentLength === 0)) {
      // Bytes after a bodiless response mean the upstream is out of step: it is not reused.
      this.#responseEnded(buf.length === head.size);
    } else {
      this.#responseBody(buf, head.size);
    }
    socket.uncork();
  }

  #responseBody(chunk: Buffer, start: number): void {
    let end: number;
    const socket = this.#socket;
    switch (this.#resBody) {
      case ResBody.Length:
        end = start + Math.min(this.#resLeft, chunk.length - start);
        this.#resLeft -= end - start;
        if (this.#resLeft > 0) end = -1;
        break;
      case ResBody.Chunked: {
        const out = pieces;
        end = this.#resChunks!.scan(chunk, start, chunk.length, out);
        if (end === chunkedError) {
          // A torn response: the client sees it cut short, as on the Node path.
          out.length = 0;
          this.#dropUpstream();
          return void socket.destroy();
        }
        socket.cork();
        if (!writeAll(socket, out)) this.#upstream?.pause();
        socket.uncork();
        out.length = 0;
        if (end !== -1) this.#responseEnded(end === chunk.length);
        return;
      }
      default: {
        const size = chunk.length - start;
        if (size === 0) return;
        socket.cork();
        socket.write(`${size.toString(16)}\r\n`, 'latin1');
        socket.write(start === 0 ? chunk : chunk.subarray(start));
        if (!socket.write('\r\n', 'latin1')) this.#upstream?.pause();
        socket.uncork();
        return;
      }
    }
    const stop = end === -1 ? chunk.length : end;
    if (stop > start && !socket.write(start === 0 && stop === chunk.length ? chunk : chunk.subarray(start, stop))) this.#upstream?.pause();
    if (end !== -1) this.#responseEnded(end === chunk.length);
  }

  upstreamEnd(): void {
    if (this.#resHead !== undefined && this.#resBody === ResBody.UntilClose) {
      this.#socket.write('0\r\n\r\n', 'latin1');
      return this.#responseEnded(false);
    }
    this.upstreamFailed(undefined, false);
  }

  upstreamFailed(error: NodeJS.ErrnoException | undefined, timeout: boolean): void {
    const upstream = this.#upstream;
    if (upstream === undefined) return;
    this.#dropUpstream();
    if (this.#resStarted) return void this.#socket.destroy();
    const route = this.#route!;
    if (!this.#connected && !timeout) return this.#failover('refused', error?.message ?? 'upstream closed the connection');
    // An upstream may close an idle pooled connection just as we reuse it; the request never reached it.
    if (this.#mayRetry && this.#reused && !timeout && isStaleConnectionError(error) && this.#resBuf === undefined) {
      this.#ctx.logger.debug({ route: route.name }, 'pooled upstream connection was closed; retrying');
      this.#mayRetry = false;
      this.#askRetrySlot();
      return;
    }
    // A fresh connection that reset before any response byte: an idempotent request goes to another target, once.
    if (this.#mayRetry && !timeout && isStaleConnectionError(error) && this.#resBuf === undefined) {
      const balancer = route.state.balancer!;
      balancer.reportFailure(this.#target!, this.#ctx.logger, route.name);
      this.#tried = [...this.#tried, this.#target!];
      const next = balancer.select(this.#facts!.clientIp, this.#tried);
      if (next !== undefined) {
        this.#mayRetry = false;
        this.#setTarget(next);
        this.#askRetrySlot();
        return;
      }
    }
    const message = timeout ? 'upstream timed out' : (error?.message ?? 'upstream closed the connection');
    this.#fail(timeout ? 'response-timeout' : 'refused', message);
  }

  #fail(failure: UpstreamFailure, message: string): void {
    const { status, detail } = failureStatus(failure);
    const route = this.#route!;
    this.#ctx.logger.warn({ route: route.name, target: this.#target?.key, err: message }, 'upstream request failed');
    if (this.#resStarted) return void this.#socket.destroy();
    // The unread rest of a request body would be read as the next request: the connection ends after this answer.
    if (!this.#reqDone) this.#closeAfter = true;
    this.#respond(status, detail);
  }

  /**
   * Answers a request the router refused (400, 404, 421, 403, 431) without
   * reading its body: a connection whose request had one ends after the answer.
   */
  #refuse(head: RequestHead, status: number, detail: string): void {
    const framing = head.framing;
    const hasBody = framing.kind === 'chunked' || (framing.kind === 'length' && framing.length > 0);
    const buf = this.#buf!;
    this.#buf = buf.length === head.size ? undefined : buf.subarray(head.size);
    this.#reqDone = !hasBody;
    this.#closeAfter = head.close || hasBody;
    this.#head = head;
    this.#resHead = undefined;
    this.deadline = 0;
    this.#phase = Phase.Wait;
    this.#respond(status, detail);
  }

  /** A short plain-text answer from the proxy itself, as sendStatus writes it, ending the exchange. */
  #respond(status: number, detail: string): void {
    this.#status = status;
    // A 503 for a route with no target left says when to come back.
    const extra = status === 503 && this.#route !== undefined ? `Retry-After: ${retryAfterSeconds}\r\n` : '';
    this.#socket.write(rawStatusResponse(status, detail, this.#closeAfter, this.#head?.method === 'HEAD', extra));
    this.#resStarted = true;
    this.#responseEnded(false);
  }

  /** The response is complete; `reusable` says the upstream's bytes ended exactly with it. */
  #responseEnded(reusable: boolean): void {
    const upstream = this.#upstream;
    if (upstream !== undefined) {
      this.#upstream = undefined;
      if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
      this.#connectTimer = undefined;
      upstream.resume();
      const clean = reusable && this.#reqDone && !this.#resHead!.close;
      release(upstream, this.#dest!.key, clean);
    }
    this.#finish();
    // Nothing of the exchange is kept while the connection idles: its heads were most of an idle connection's memory.
    this.#head = undefined;
    this.#resHead = undefined;
    this.#upstreamHead = '';
    if (this.#phase === Phase.Gone) return;
    if (this.#closeAfter || !this.#reqDone) {
      this.#gone();
      return void this.#socket.end();
    }
    this.#phase = Phase.Head;
    this.#idle = this.#buf === undefined || this.#buf.length === 0;
    this.deadline = Date.now() + (this.#idle ? this.#ctx.timeouts.keepAliveMs : this.#ctx.timeouts.headersMs);
    this.#socket.resume();
    this.#next();
  }

  /** Counts the finished (or aborted) exchange once. */
  #finish(): void {
    const route = this.#route;
    if (route === undefined) return;
    this.#route = undefined;
    if (this.#target !== undefined) route.state.balancer!.release(this.#target);
    this.#target = undefined;
    this.#facts = undefined;
    finishRequest(this.#ctx, route, this.#port, this.#socket, this.#status);
  }

  #dropUpstream(): void {
    const upstream = this.#upstream;
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    if (upstream === undefined) return;
    this.#upstream = undefined;
    release(upstream, this.#dest!.key, false);
  }

  #gone(): void {
    this.#phase = Phase.Gone;
    this.deadline = 0;
    this.#front.forget(this);
  }

  /** Gives the connection to Node's HTTP server, with every byte read but not consumed. */
  #handover(): void {
    const socket = this.#socket;
    this.#gone();
    socket.pause();
    socket.off('data', FastConnection.#onData);
    socket.off('end', FastConnection.#onEnd);
    socket.off('close', FastConnection.#onClose);
    socket.off('drain', FastConnection.#onDrain);
    (socket as ClientSocket)[kConnection] = undefined;
    const buf = this.#buf;
    this.#buf = undefined;
    if (buf !== undefined && buf.length > 0) {
      if (socket.readableEnded) return void socket.destroy();
      socket.unshift(buf);
    }
    this.#front.handOver(this.#port, socket);
  }
}

/** Writes each piece; false when the socket asked the writer to wait (any write returned false). */
function writeAll(socket: Socket, pieces: readonly Buffer[]): boolean {
  let ok = true;
  for (let i = 0; i < pieces.length; i++) ok = socket.write(pieces[i]!) && ok;
  return ok;
}

function noop(): void {}
