/**
 * Header translation between HTTP/2 streams and the HTTP/1.1 pipeline: a
 * stream's header list becomes the raw header array every engine hands the
 * pipeline, and a response's raw headers become what `stream.respond()`
 * takes. The HTTP rules themselves (hop-by-hop, X-Forwarded-*, framing)
 * stay in http/message-rules.ts; only what HTTP/2 changes is here.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { normaliseHostname } from '../../routing/domain-matcher.js';

/** A stream's request as the pipeline reads it. */
export interface H2RequestHead {
  readonly method: string;
  /** `:path`, origin-form. */
  readonly path: string;
  /** `:authority`, else the Host field; undefined when the request has neither (matchRequest answers 400). */
  readonly authority: string | undefined;
  /** Regular fields as HTTP/1.1 would carry them: Host first, cookies joined, pseudo-headers gone. */
  readonly rawHeaders: string[];
  /** The client's Content-Length, when it sent one. */
  readonly contentLength: number | undefined;
  /** `te: trailers`: the client takes response trailers (gRPC-style clients say so). */
  readonly acceptsTrailers: boolean;
}

/** A request the proxy answers itself instead of routing. */
export interface H2Refusal {
  readonly status: number;
  readonly detail: string;
}

/**
 * RFC 9113 §8.2.2: fields that are connection-specific in HTTP/1.1 make an
 * HTTP/2 message malformed; TE is allowed only as `trailers`.
 */
const connectionSpecific: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Turns a stream's raw header list ([name, value, …], pseudo-headers
 * included, names lower-case as HTTP/2 requires) into the pipeline's
 * request head, or the status a malformed request gets.
 */
export function requestHead(raw: readonly string[], maxListBytes: number): H2RequestHead | H2Refusal {
  let method: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let cookie: string | undefined;
  let contentLength: number | undefined;
  let acceptsTrailers = false;
  // Host goes first; its slot is kept from the start so the list is never copied to put it there.
  const fields: string[] = ['Host', ''];
  let listBytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    listBytes += name.length + value.length + 32;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name !== ':scheme') return { status: 400, detail: `${name} is not supported` };
      continue;
    }
    if (connectionSpecific.has(name)) return { status: 400, detail: `${name} is connection-specific and not allowed in HTTP/2` };
    if (name === 'te') {
      if (value.trim().toLowerCase() !== 'trailers') return { status: 400, detail: 'TE other than trailers is not allowed in HTTP/2' };
      acceptsTrailers = true;
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) return { status: 400, detail: 'more than one Host header' };
      host = value;
      continue;
    }
    if (name === 'cookie') {
      // RFC 9113 §8.2.3: cookie crumbs are joined with "; " before they go to an HTTP/1.1 hop.
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'content-length') {
      const length = Number(value);
      if (!/^\d+$/.test(value) || (contentLength !== undefined && contentLength !== length)) return { status: 400, detail: 'invalid Content-Length' };
      contentLength = length;
    }
    fields.push(name, value);
  }
  // Node enforces SETTINGS_MAX_HEADER_LIST_SIZE only once the client acknowledged it; before that, this does.
  if (listBytes > maxListBytes) return { status: 431, detail: `header list larger than ${maxListBytes} bytes` };
  if (method === undefined) return { status: 400, detail: 'the request has no :method' };
  if (method === 'CONNECT') return { status: 501, detail: 'CONNECT is not supported over HTTP/2' };
  if (path === undefined || path.length === 0) return { status: 400, detail: 'the request has no :path' };
  // RFC 9113 §8.3.1: Host and :authority must agree; an upstream reading the other one would serve another site.
  if (authority !== undefined && host !== undefined && normaliseHostname(authority) !== normaliseHostname(host)) {
    return { status: 400, detail: ':authority and Host name different hosts' };
  }
  authority ??= host;
  if (authority === undefined) fields.splice(0, 2);
  else fields[1] = authority;
  if (cookie !== undefined) fields.push('Cookie', cookie);
  return { method, path, authority, rawHeaders: fields, contentLength, acceptsTrailers };
}

/**
 * Response headers for `stream.respond()`: names lower-cased (RFC 9113
 * §8.2), connection-specific ones dropped (HTTP/2 forbids them, and Node
 * throws on them), repeated fields kept as arrays.
 */
export function responseHeaders(status: number, raw: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (connectionSpecific.has(name) || name === 'te') continue;
    const value = raw[i + 1]!;
    const before = headers[name];
    if (before === undefined) headers[name] = value;
    else if (Array.isArray(before)) before.push(value);
    else headers[name] = [String(before), value];
  }
  return headers;
}

/** The same for the proxy's own answers, written as a record (http-actions, http-responses). */
export function recordHeaders(status: number, record: Record<string, string | number>): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (const [name, value] of Object.entries(record)) {
    const lower = name.toLowerCase();
    if (!connectionSpecific.has(lower) && lower !== 'te') headers[lower] = value;
  }
  return headers;
}

/** Fields a trailer section may never carry: framing, routing and connection-specific ones (RFC 9110 §6.5.1). */
const notInTrailers: ReadonlySet<string> = new Set(['content-length', 'host', 'trailer', 'content-type', 'content-encoding', 'content-range', 'authorization', 'set-cookie']);

/** An HTTP/1.1 response's trailer fields ([name, value, …]) as HTTP/2 trailers, without the fields no trailer may carry. */
export function trailerHeaders(raw: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (connectionSpecific.has(name) || notInTrailers.has(name) || name === 'te' || name.charCodeAt(0) === 58) continue;
    const before = headers[name];
    headers[name] = before === undefined ? raw[i + 1]! : `${String(before)}, ${raw[i + 1]!}`;
  }
  return headers;
}
