/**
 * Forwarding one HTTP request upstream, for every engine that hands the
 * pipeline a decoded request (Node's server for what the fast engine hands
 * over, HTTP/2 streams): the engine describes the request and gives a sink
 * for the answer; target choice and failover, the upstream request policy,
 * timeouts, the stale-connection retry, response checks and error statuses
 * are all here. The exchange runs on the same raw upstream pool as the fast
 * engine (upstream/pool.ts): the request head is written by the shared
 * message rules, the body framed by the proxy, and the response read raw
 * and handed to the sink decoded. Bodies stream both ways with back-pressure.
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Route } from '../../routing/route.js';
import { routeTimeout, type ProxyContext } from '../context.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { noteUpstream, noteUpstreamResponse } from '../access-log.js';
import type { Upstream } from '../balancer/upstream.js';
import type { ResponseHead } from '../fast/head-parser.js';
import { exchangeDest } from '../upstream/dest.js';
import { armResponseTimeout, exchangeSocket, release, type UpstreamOwner, type UpstreamSocket, type UpstreamTarget } from '../upstream/socket.js';
import { closesAfterResponse } from './admission.js';
import { clientResponseHeaders, upstreamRequestText, type BodyFraming } from './message-rules.js';
import { RequestBodySender, type BodyListener } from './request-body.js';
import { ResponseReader, type ResponseListener } from './response-reader.js';
import { exhaustedFailure, failureStatus, isRetryable, isStaleConnectionError, retryAfterSeconds, type UpstreamFailure } from './upstream-failure.js';

/** A request as an engine hands it over: already routed, its head read, its body (if any) a decoded stream. */
export interface ForwardRequest {
  readonly method: string;
  /** Origin-form target, as sent upstream. */
  readonly path: string;
  /** The client's header fields, [name, value, …]; the pipeline's header rules are applied here. */
  readonly rawHeaders: readonly string[];
  /** How the body goes upstream: chunked, a Content-Length, or none. */
  readonly framing: BodyFraming;
  /** The decoded body; undefined when there is none. */
  readonly body: Readable | undefined;
  /** The client's connection (an HTTP/2 session's socket): a PROXY header and the access log name it. */
  readonly client: Socket;
  /** The access-log record's key when it is not `client` (an HTTP/2 stream). */
  readonly logKey?: object;
}

/** The engine's side of the exchange: where the answer goes. */
export interface ResponseSink {
  /** Whether the response head went out (errors then cut the stream instead of answering). */
  readonly started: boolean;
  /**
   * Sends the head: `headers` went through the response rules already;
   * `close` asks the engine to end the client connection after this
   * response (a retired route); `empty` when the response has no body at
   * all (a HEAD's, 204, 304, Content-Length: 0), so an engine may end the
   * message with its head. Throws when the engine cannot write it.
   */
  head(status: number, reason: string, headers: string[], close: boolean, empty: boolean): void;
  /** Where the decoded body is written (and ended). */
  readonly body: Writable;
  /**
   * The trailer fields of a chunked upstream body, [name, value, …], given
   * just before the body ends; an engine that cannot send trailers leaves
   * it out (Node's server never sent them on).
   */
  trailers?(fields: readonly string[]): void;
  /** The proxy's own answer while nothing was sent (502, 503, 504); `retryAfter` seconds when no target is left. */
  fail(status: number, detail: string, retryAfter?: number): void;
  /** Tears the client side down once the response had started. */
  abort(): void;
}

/**
 * Proxies one request to a target of the route over a pooled keep-alive
 * connection. A target that does not take the connection is skipped for
 * the next one (nothing was sent, so for any method); failures become 502
 * (503 when no target is left, 504 on timeout) while nothing was sent yet,
 * and a torn response afterwards. Returns the abort function the engine
 * calls when its client goes away.
 */
export function forwardRequest(ctx: ProxyContext, route: Route, facts: ForwardedFacts, request: ForwardRequest, sink: ResponseSink): () => void {
  const exchange = new Exchange(ctx, route, facts, request, sink);
  exchange.start();
  return exchange.abort;
}

/**
 * One forwarded request across its attempts (a retry, a failover to
 * another target): it owns the leased upstream socket while one is in
 * use, and gives it back to the pool only when both messages ended exactly.
 */
class Exchange implements UpstreamOwner, ResponseListener, BodyListener {
  readonly #ctx: ProxyContext;
  readonly #route: Route;
  readonly #facts: ForwardedFacts;
  readonly #request: ForwardRequest;
  readonly #sink: ResponseSink;
  /** The request head, the same for every attempt. */
  readonly #head: string;
  readonly #body: RequestBodySender | undefined;
  #mayRetry: boolean;
  /** The target of the attempt in flight, where its socket goes, and the targets this request failed on. */
  #target: Upstream | undefined;
  #dest: UpstreamTarget | undefined;
  readonly #tried: Upstream[] = [];
  #upstream: UpstreamSocket | undefined;
  /** Withdraws an ask for a socket still waiting in the pool (the target is at maxSocketsPerTarget). */
  #withdraw: () => void = noop;
  #reused = false;
  /** Until the connection is up nothing was sent: a failure then may go to another target, whatever the method. */
  #connected = false;
  #connectTimer: NodeJS.Timeout | undefined;
  #reader: ResponseReader | undefined;
  #reqDone = false;
  /** The sink refused a write: a 'drain' listener waits to resume the upstream. */
  #awaitingDrain = false;
  /** Finished or aborted: nothing more is done. */
  #over = false;

  constructor(ctx: ProxyContext, route: Route, facts: ForwardedFacts, request: ForwardRequest, sink: ResponseSink) {
    this.#ctx = ctx;
    this.#route = route;
    this.#facts = facts;
    this.#request = request;
    this.#sink = sink;
    // The body's framing is never optional: a GET's body sent raw after the
    // head would become a second, unrouted request on the pooled upstream
    // connection (request smuggling). So the proxy frames what it sends:
    // a Content-Length body as is, any other chunk-encoded.
    const claimed = request.framing;
    const hasBody = request.body !== undefined && (claimed === 'chunked' || (claimed !== undefined && claimed > 0));
    // A head that announced a body with no stream to read it from would leave the upstream waiting: it says empty.
    const framing = hasBody || claimed === undefined || claimed === 0 ? claimed : 0;
    this.#head = upstreamRequestText(request.method, request.path, request.rawHeaders, framing, facts, ctx.trustedProxies);
    this.#body = hasBody ? new RequestBodySender(request.body!, framing!, this) : undefined;
    this.#mayRetry = isRetryable(request.method, hasBody);
  }

  start(): void {
    const target = this.#route.state.balancer!.select(this.#facts.clientIp);
    if (target === undefined) return this.#fail('no-target');
    this.#request.body?.on('error', this.abort);
    this.#setTarget(target);
    this.#withdraw = this.#ctx.pool.acquire(this.#dest!.key, this.#granted);
  }

  /** The client went away (or its body failed): the upstream socket is destroyed at once, never pooled. */
  readonly abort = (): void => {
    if (this.#over) return;
    this.#withdraw();
    this.#dropUpstream();
    this.#finish();
  };

  /** A socket to the target can be had: a pooled one, or the right to open one. */
  readonly #granted = (pooled: Socket | undefined): void => {
    this.#withdraw = noop;
    // The client left while the ask waited: the slot goes back untouched.
    if (this.#over) return this.#ctx.pool.release(this.#dest!.key, pooled);
    this.#send(pooled);
  };

  /** The slot for a second try after a stale socket: always a fresh connection, since another pooled one may be as stale. */
  readonly #retryGranted = (pooled: Socket | undefined): void => {
    this.#withdraw = noop;
    if (this.#over) return this.#ctx.pool.release(this.#dest!.key, pooled);
    pooled?.destroy();
    this.#send(undefined);
  };

  /** The exchange goes to `target`: counted in flight there (least-connections), its socket pooled as exchangeDest says. */
  #setTarget(target: Upstream): void {
    const balancer = this.#route.state.balancer!;
    if (this.#target !== undefined) balancer.release(this.#target);
    balancer.acquire(target);
    this.#target = target;
    this.#dest = exchangeDest(this.#route, target, this.#facts.port, this.#facts.host, this.#request.client);
  }

  /** Writes the request head to a pooled socket, or to a new connection (after its PROXY header) when there is none. */
  #send(pooled: Socket | undefined): void {
    const ctx = this.#ctx;
    const route = this.#route;
    const target = this.#target!;
    const upstream = exchangeSocket(pooled, this.#dest!, ctx.pool, this, target.proxyProtocol, this.#request.client);
    this.#reused = pooled !== undefined;
    this.#connected = pooled !== undefined;
    if (pooled === undefined) {
      this.#connectTimer = setTimeout(this.#connectTimedOut, routeTimeout(ctx, route, 'upstreamConnectMs'));
    }
    this.#upstream = upstream;
    this.#reader = new ResponseReader(this.#request.method, this);
    if (ctx.accessLog !== undefined) noteUpstream(this.#logKey, target.key);
    armResponseTimeout(upstream, routeTimeout(ctx, route, 'upstreamResponseMs'));
    upstream.write(this.#head, 'latin1');
    if (this.#connected) this.#sendBody(upstream);
  }

  /** The body is read only once a connection took the request, so a failover before it has all of it to send. */
  #sendBody(upstream: UpstreamSocket): void {
    if (this.#body === undefined) this.#reqDone = true;
    else this.#body.start(upstream);
  }

  readonly #connectTimedOut = (): void => {
    this.#connectTimer = undefined;
    if (this.#upstream === undefined) return;
    this.#dropUpstream();
    this.#failover('connect-timeout', 'upstream connect timed out');
  };

  /**
   * The target did not take the connection: nothing reached it, so the
   * request goes to the next target, whatever its method. None left: the
   * failure's own answer, or 503.
   */
  #failover(failure: UpstreamFailure, message: string): void {
    const route = this.#route;
    const balancer = route.state.balancer!;
    const target = this.#target!;
    balancer.reportFailure(target, this.#ctx.logger, route.name);
    this.#tried.push(target);
    const next = balancer.select(this.#facts.clientIp, this.#tried);
    this.#ctx.logger.warn({ route: route.name, target: target.key, next: next?.key, err: message }, 'upstream connection failed');
    if (next === undefined) return this.#fail(exhaustedFailure(failure, balancer.targets.length));
    this.#setTarget(next);
    this.#withdraw = this.#ctx.pool.acquire(this.#dest!.key, this.#granted);
  }

  // ---- the upstream socket (UpstreamOwner) ----

  upstreamConnected(): void {
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#connected = true;
    this.#sendBody(this.#upstream!);
  }

  upstreamDrained(): void {
    this.#body?.resume();
  }

  upstreamData(chunk: Buffer, owned: boolean): boolean {
    // Sinks (Node's response, an HTTP/2 stream) queue what they are given: a view of the socket's read buffer is copied first.
    this.#reader!.push(owned ? chunk : Buffer.from(chunk));
    return false;
  }

  upstreamEnd(): void {
    if (!this.#reader!.upstreamEnded()) this.upstreamFailed(undefined, false);
  }

  upstreamFailed(error: NodeJS.ErrnoException | undefined, timeout: boolean): void {
    if (this.#upstream === undefined) return;
    this.#dropUpstream();
    const ctx = this.#ctx;
    const route = this.#route;
    if (this.#sink.started) return this.#tear();
    if (!this.#connected && !timeout) return this.#failover('refused', error?.message ?? 'upstream closed the connection');
    // A request the upstream never answered a byte of, and that may be sent twice (idempotent, no body): once more.
    if (this.#mayRetry && !timeout && isStaleConnectionError(error) && !this.#reader!.received) {
      this.#mayRetry = false;
      // A pooled connection the upstream closed just as we reused it never saw the request: the same target, afresh.
      if (this.#reused) {
        ctx.logger.debug({ route: route.name, err: error?.message }, 'pooled upstream connection was closed; retrying');
        this.#withdraw = ctx.pool.acquire(this.#dest!.key, this.#retryGranted);
        return;
      }
      // A fresh connection that reset before any response byte: another target, if there is one.
      const balancer = route.state.balancer!;
      const target = this.#target!;
      balancer.reportFailure(target, ctx.logger, route.name);
      this.#tried.push(target);
      const next = balancer.select(this.#facts.clientIp, this.#tried);
      if (next !== undefined) {
        ctx.logger.debug({ route: route.name, target: target.key, next: next.key }, 'upstream reset before answering; retrying on another target');
        this.#setTarget(next);
        this.#withdraw = ctx.pool.acquire(this.#dest!.key, this.#retryGranted);
        return;
      }
    }
    this.#fail(timeout ? 'response-timeout' : 'refused', timeout ? 'upstream timed out' : (error?.message ?? 'upstream closed the connection'));
  }

  // ---- the response (ResponseListener) ----

  responseHead(head: ResponseHead): boolean {
    if (this.#ctx.accessLog !== undefined) noteUpstreamResponse(this.#logKey);
    this.#route.state.balancer!.reportSuccess(this.#target!);
    try {
      this.#sink.head(head.status, head.reason, clientResponseHeaders(head.rawHeaders, this.#facts), closesAfterResponse(this.#route), this.#reader!.empty);
    } catch (error) {
      // A head the engine cannot carry (HTTP/2 refuses some): 502, and the upstream connection is dropped.
      this.responseInvalid((error as Error).message);
      return false;
    }
    return true;
  }

  responseData(piece: Buffer): void {
    if (this.#over) return;
    if (this.#sink.body.write(piece) || this.#awaitingDrain) return;
    // Back-pressure: the upstream waits for the client. The 'drain' listener is added only now, so a
    // response that fits the sink's buffer (most of them) adds and removes no listener at all.
    this.#upstream?.pause();
    this.#awaitingDrain = true;
    this.#sink.body.once('drain', this.#sinkDrained);
  }

  responseEnd(exact: boolean, trailers: readonly string[]): void {
    const upstream = this.#upstream;
    if (this.#over || upstream === undefined) return;
    this.#upstream = undefined;
    // A request body still going out (the upstream answered early) leaves the connection mid-message: not reused.
    if (!this.#reqDone) this.#body!.stop();
    upstream.resume();
    release(upstream, this.#dest!.key, exact && this.#reqDone && !this.#reader!.head!.close);
    this.#finish();
    if (trailers.length > 0) this.#sink.trailers?.(trailers);
    // A sink may have ended an empty response with its head already.
    if (!this.#sink.body.writableEnded) this.#sink.body.end();
  }

  /** An upstream response the proxy will not relay: the upstream connection is dropped and the client gets 502. */
  responseInvalid(why: string): void {
    this.#ctx.logger.warn({ route: this.#route.name, err: why }, 'upstream sent a response that cannot be relayed');
    this.#dropUpstream();
    this.#fail('invalid-response');
  }

  /** A torn response: the client sees it cut short (the HTTP/2 stream reset), as when the upstream goes away mid-body. */
  responseBroken(why: string): void {
    this.#ctx.logger.warn({ route: this.#route.name, target: this.#target?.key, err: why }, 'upstream response broken off');
    this.#dropUpstream();
    this.#tear();
  }

  // ---- the request body (BodyListener) ----

  bodySent(): void {
    this.#reqDone = true;
  }

  bodyMismatch(): void {
    this.#ctx.logger.warn({ route: this.#route.name }, 'request body did not match its Content-Length');
    this.#dropUpstream();
    this.#tear();
  }

  // ---- endings ----

  /**
   * The proxy's own answer to a failed exchange (or a cut once the response
   * started); a 503 for a route with no target left says when to come back.
   * `message` is logged: a route with no target to try is no upstream failure.
   */
  #fail(failure: UpstreamFailure, message?: string): void {
    if (this.#over) return;
    if (message !== undefined) this.#ctx.logger.warn({ route: this.#route.name, target: this.#target?.key, err: message }, 'upstream request failed');
    this.#finish();
    if (this.#sink.started) return this.#sink.abort();
    const { status, detail } = failureStatus(failure);
    this.#sink.fail(status, detail, failure === 'no-target' ? retryAfterSeconds : undefined);
  }

  /** Cuts the client's response off: the head went out already, so no answer of the proxy's can follow. */
  #tear(): void {
    this.#finish();
    this.#sink.abort();
  }

  /** Counts the exchange over once: the target's in-flight count, the listeners on the engine's streams. */
  #finish(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#target !== undefined) this.#route.state.balancer!.release(this.#target);
    this.#body?.stop();
    this.#request.body?.off('error', this.abort);
    if (this.#awaitingDrain) this.#sink.body.off('drain', this.#sinkDrained);
    this.#awaitingDrain = false;
  }

  /** The access log's record for this request: its stream's (HTTP/2) or its connection's. */
  get #logKey(): object {
    return this.#request.logKey ?? this.#request.client;
  }

  readonly #sinkDrained = (): void => {
    this.#awaitingDrain = false;
    this.#upstream?.resume();
  };

  /** Destroys the socket in use (never pooled mid-exchange) and gives its slot back to the pool. */
  #dropUpstream(): void {
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    const upstream = this.#upstream;
    if (upstream === undefined) return;
    this.#upstream = undefined;
    release(upstream, this.#dest!.key, false);
  }
}

function noop(): void {}
