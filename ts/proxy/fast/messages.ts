import type { IpMatcher } from '../../routing/ip-matcher.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { clientResponseHeaders, upstreamRequestHeaders, type BodyFraming } from '../http/message-rules.js';
import type { Framing, RequestHead, ResponseHead } from './head-parser.js';

/** The request head sent upstream, by the shared header rules; the body's framing is the one the fast path forwards. */
export function upstreamRequestHead(head: RequestHead, path: string, facts: ForwardedFacts, trusted: IpMatcher | undefined): string {
  const headers = upstreamRequestHeaders(head.rawHeaders, bodyFraming(head.framing), facts, trusted);
  let text = `${head.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return text + '\r\n';
}

function bodyFraming(framing: Framing): BodyFraming {
  switch (framing.kind) {
    case 'chunked':
      return 'chunked';
    case 'length':
      return framing.length;
    default:
      return undefined;
  }
}

/**
 * The response head sent to the client, by the shared header rules;
 * `transferEncoding` when the body goes chunked (the upstream's codings, or
 * `chunked` for a re-chunked until-close body); Connection: close when the
 * client connection ends after it.
 */
export function clientResponseHead(head: ResponseHead, transferEncoding: string | undefined, close: boolean): string {
  let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  const headers = clientResponseHeaders(head.rawHeaders);
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  if (transferEncoding !== undefined) text += `Transfer-Encoding: ${transferEncoding}\r\n`;
  if (close) text += 'Connection: close\r\n';
  return text + '\r\n';
}
