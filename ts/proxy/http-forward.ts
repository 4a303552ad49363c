import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../routing/route.js';
import type { ProxyContext } from './context.js';
import type { ForwardedFacts } from './forwarded-headers.js';
import { forwardRequest, type ResponseSink } from './http/forward.js';
import type { BodyFraming } from './http/message-rules.js';
import { sendStatus } from './http-responses.js';

/**
 * The Node engine's forward action: Node's server parsed and de-chunked
 * the request; the pipeline's forwarder does the rest, answering through
 * the ServerResponse. A client that goes away aborts the upstream request.
 */
export function forwardHttp(ctx: ProxyContext, route: Route, req: IncomingMessage, res: ServerResponse, facts: ForwardedFacts): void {
  // The handler allowed only a single `chunked` coding, and Node refused two Content-Lengths.
  const contentLength = req.headers['content-length'];
  const framing: BodyFraming = req.headers['transfer-encoding'] !== undefined ? 'chunked' : contentLength !== undefined ? Number(contentLength) : undefined;
  const abort = forwardRequest(ctx, route, facts, { method: req.method ?? 'GET', path: req.url ?? '/', rawHeaders: req.rawHeaders, framing, body: req, client: req.socket }, nodeSink(res));
  res.on('close', () => {
    if (!res.writableFinished) abort();
  });
}

function nodeSink(res: ServerResponse): ResponseSink {
  return {
    get started() {
      return res.headersSent || res.destroyed;
    },
    head(status, reason, headers, close) {
      if (close) headers.push('Connection', 'close');
      res.writeHead(status, reason, headers);
    },
    body: res,
    fail: (status, detail, retryAfter) => sendStatus(res, status, detail, false, retryAfter === undefined ? undefined : { 'retry-after': String(retryAfter) }),
    abort: () => res.destroy(),
  };
}
