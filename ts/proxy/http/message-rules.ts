/**
 * The rules every HTTP engine applies to the messages it relays, written
 * once: how a body is framed upstream, which request and response heads are
 * refused, and which headers the next hop sees. Whatever a peer sends, what
 * leaves the proxy is framed by the proxy: one Content-Length or chunked,
 * never a header the peer chose to drop or duplicate.
 */
import type { IpMatcher } from '../../routing/ip-matcher.js';
import { addForwardedHeaders, type ForwardedFacts } from '../forwarded-headers.js';
import { endToEndHeaders } from '../hop-headers.js';
import { httpDate } from './date.js';
import { applyHeaderRules } from './header-rules.js';
import { headText } from './head-text.js';

/** How a request body goes upstream: chunked, a Content-Length (0 included), or no framing header at all. */
export type BodyFraming = 'chunked' | number | undefined;

/**
 * What a request's Transfer-Encoding means to the proxy: `chunked` when it
 * is exactly that one coding; 400 for chunked applied twice or not last
 * (RFC 9112 §6.1 forbids both, and parsers disagree on them); 501 for any
 * other coding, which the proxy cannot decode to find the body's end.
 */
export function requestTransferCoding(value: string): 'chunked' | 400 | 501 {
  const codings = value.split(',').map((coding) => coding.trim().toLowerCase());
  const last = codings.length - 1;
  if (codings[last] !== 'chunked' || codings.indexOf('chunked') !== last || codings.includes('')) return 400;
  return last === 0 ? 'chunked' : 501;
}

/**
 * A response's Transfer-Encoding: the codings applied before chunked and
 * whether the body is chunked (else it runs until the upstream closes,
 * RFC 9112 §6.3); `invalid` when chunked is applied twice or is not last.
 */
export function responseTransferCoding(value: string): { chunked: boolean; codings: string[] } | 'invalid' {
  const codings: string[] = [];
  let chunked = false;
  for (const part of value.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding.length === 0) continue;
    if (chunked) return 'invalid';
    if (coding === 'chunked') chunked = true;
    else codings.push(coding);
  }
  return { chunked, codings };
}

/** Final status codes a response may carry (RFC 9110 §15: three digits, 1xx–5xx); Node refuses to write others. */
export function isValidFinalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4). */
const reasonPhrase = /^[\t\x20-\x7e\x80-\xff]*$/;

export function isValidReason(reason: string): boolean {
  return reasonPhrase.test(reason);
}

/**
 * The headers sent upstream with a request: hop-by-hop ones and every
 * Content-Length the client sent dropped, X-Forwarded-* set, a Host added
 * when the client's request had none (HTTP/1.0 absolute-form), and one
 * framing header written by the proxy from the body it will send.
 */
export function upstreamRequestHeaders(raw: readonly string[], framing: BodyFraming, facts: ForwardedFacts, trusted: IpMatcher | undefined): string[] {
  const headers = addForwardedHeaders(endToEndHeaders(raw, undefined, framingHeaders), facts, trusted);
  if (facts.host !== undefined && !hasHeader(raw, 'host')) headers.push('Host', facts.host);
  // The route's rules come last but before framing: they may replace X-Forwarded-* and Host, never the framing.
  if (facts.headerRules !== undefined) applyHeaderRules(headers, facts.headerRules.request, facts);
  if (framing === 'chunked') headers.push('Transfer-Encoding', 'chunked');
  else if (framing !== undefined) headers.push('Content-Length', String(framing));
  return headers;
}

/** The request head sent upstream as text, for the engines that write it themselves: HTTP/1.1, with upstreamRequestHeaders. */
export function upstreamRequestText(method: string, path: string, raw: readonly string[], framing: BodyFraming, facts: ForwardedFacts, trusted: IpMatcher | undefined): string {
  return headText(`${method} ${path} HTTP/1.1`, upstreamRequestHeaders(raw, framing, facts, trusted));
}

/**
 * The headers a client gets with a relayed response: hop-by-hop ones
 * dropped, a Date added when the upstream sent none, and the route's
 * response header rules applied (`facts` of the request). Content-Length is
 * kept; the engine adds Transfer-Encoding or Connection as it frames the body.
 */
export function clientResponseHeaders(raw: readonly string[], facts?: ForwardedFacts): string[] {
  const headers = endToEndHeaders(raw);
  if (!hasHeader(raw, 'date')) headers.push('Date', httpDate());
  if (facts?.headerRules !== undefined) applyHeaderRules(headers, facts.headerRules.response, facts);
  return headers;
}

const framingHeaders: ReadonlySet<string> = new Set(['content-length']);

function hasHeader(raw: readonly string[], lowerName: string): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return true;
  }
  return false;
}
