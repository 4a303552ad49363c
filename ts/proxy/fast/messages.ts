import { addForwardedHeaders, type ForwardedFacts } from '../forwarded-headers.js';
import { endToEndHeaders } from '../hop-headers.js';
import type { IpMatcher } from '../../routing/ip-matcher.js';
import type { RequestHead, ResponseHead } from './head-parser.js';

/** The request head sent upstream: hop-by-hop headers stripped, X-Forwarded-* set, Host and framing kept. */
export function upstreamRequestHead(head: RequestHead, path: string, facts: ForwardedFacts, trusted: IpMatcher | undefined): string {
  const headers = addForwardedHeaders(endToEndHeaders(head.rawHeaders), facts, trusted);
  // Transfer-Encoding is hop-by-hop but the body's framing is not optional (see http-forward.ts): the chunked bytes go as they are.
  if (head.transferEncoding !== undefined) headers.push('Transfer-Encoding', head.transferEncoding);
  let text = `${head.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return text + '\r\n';
}

/**
 * The response head sent to the client: hop-by-hop headers stripped;
 * `transferEncoding` when the body goes chunked (the upstream's codings, or
 * `chunked` for a re-chunked until-close body); Connection: close when the
 * client connection ends after it.
 */
export function clientResponseHead(head: ResponseHead, transferEncoding: string | undefined, close: boolean): string {
  let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  const headers = endToEndHeaders(head.rawHeaders);
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  if (transferEncoding !== undefined) text += `Transfer-Encoding: ${transferEncoding}\r\n`;
  if (close) text += 'Connection: close\r\n';
  return text + '\r\n';
}
