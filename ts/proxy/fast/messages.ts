import type { IpMatcher } from '../../routing/ip-matcher.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { headText } from '../http/head-text.js';
import { clientResponseHeaders, upstreamRequestText, type BodyFraming } from '../http/message-rules.js';
import type { Framing, RequestHead, ResponseHead } from './head-parser.js';

/** The request head sent upstream, by the shared header rules; the body's framing is the one the fast path forwards. */
export function upstreamRequestHead(head: RequestHead, path: string, facts: ForwardedFacts, trusted: IpMatcher | undefined): string {
  return upstreamRequestText(head.method, path, head.rawHeaders, bodyFraming(head.framing), facts, trusted);
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
export function clientResponseHead(head: ResponseHead, transferEncoding: string | undefined, close: boolean, facts?: ForwardedFacts): string {
  let framing = transferEncoding === undefined ? '' : `Transfer-Encoding: ${transferEncoding}\r\n`;
  if (close) framing += 'Connection: close\r\n';
  return headText(`HTTP/1.1 ${head.status} ${head.reason}`, clientResponseHeaders(head.rawHeaders, facts), framing);
}
