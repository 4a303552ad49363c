/**
 * Strict HTTP/1.1 message heads for the fast path (RFC 9112 §2–§6). Only
 * the plainest requests are accepted: anything unusual (HTTP/1.0, obs-fold,
 * bare CR or LF, odd framing, Upgrade, Expect, CONNECT) is reported as
 * `handover`, and Node's own parser then answers it exactly as before.
 */

import { requestTransferCoding, responseTransferCoding } from '../http/message-rules.js';

/** Framing of a message body: `length` bytes, chunked, until the connection closes, or none. */
export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** [name, value, name, value, …] as sent. */
  readonly rawHeaders: string[];
  /** Bytes of the head, final CRLF included. */
  readonly size: number;
  readonly host: string | undefined;
  readonly framing: Framing;
  /** The client asked to close the connection after this exchange. */
  readonly close: boolean;
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly rawHeaders: string[];
  readonly size: number;
  readonly contentLength: number;
  /** Whether a Transfer-Encoding was sent; the body is then chunked or runs until the upstream closes. */
  readonly transferEncoded: boolean;
  readonly chunked: boolean;
  /** Codings applied before chunked (gzip, …), relayed to the client in front of chunked. */
  readonly codings: readonly string[];
  /** The upstream will close, or is HTTP/1.0 without keep-alive. */
  readonly close: boolean;
}

/** `incomplete`: more bytes needed; `handover`: let Node's parser judge it; `invalid`: a response we refuse (502). */
export type HeadResult<T> = T | 'incomplete' | 'handover' | 'invalid';

// What each byte may be in a head, by char code (heads are read as latin1, so every code is below 256).
// One table walk per head instead of a split and a regular expression per line: parsing heads was the
// largest line of the fast path's own CPU.
const TOKEN = 1; // tchar (RFC 9110 §5.6.2)
const VALUE = 2; // field-vchar, SP or HTAB (RFC 9110 §5.5): visible ASCII, obs-text, SP, HTAB; no other control character
const TARGET = 4; // a request-target's characters: visible ASCII
const classes = new Uint8Array(256);
for (let code = 0; code < 256; code++) {
  if (code === 9 || (code >= 0x20 && code <= 0x7e) || code >= 0x80) classes[code]! |= VALUE;
  if (code >= 0x21 && code <= 0x7e) classes[code]! |= TARGET;
  const isAlnum = (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
  if (isAlnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(code))) classes[code]! |= TOKEN;
}
const CR = 13;
const LF = 10;
const SP = 32;
const digits = /^\d{1,15}$/;

/** Parses a request head from `buf` at `start`; `max` is limits.maxHeaderBytes. */
export function parseRequestHead(buf: Buffer, start: number, max: number): HeadResult<RequestHead> {
  const end = buf.indexOf('\r\n\r\n', start, 'latin1');
  // A head with a bare LF never ends in CRLFCRLF: Node's parser refuses it at once instead of waiting for more.
  if (end === -1) return buf.length - start > max || hasBareLf(buf, start) ? 'handover' : 'incomplete';
  if (end + 4 - start > max) return 'handover';
  const text = buf.toString('latin1', start, end);
  // request-line = method SP request-target SP HTTP/1.1 (only the origin of HTTP/1.1 comes this way)
  const methodEnd = skip(text, 0, TOKEN);
  if (methodEnd === 0 || text.charCodeAt(methodEnd) !== SP) return 'handover';
  const targetEnd = skip(text, methodEnd + 1, TARGET);
  if (targetEnd === methodEnd + 1 || !text.startsWith(' HTTP/1.1', targetEnd)) return 'handover';
  const lineEnd = targetEnd + 9;
  if (lineEnd !== text.length && (text.charCodeAt(lineEnd) !== CR || text.charCodeAt(lineEnd + 1) !== LF)) return 'handover';
  const method = text.slice(0, methodEnd);
  if (method === 'CONNECT') return 'handover';
  const fields = readFields(text, lineEnd + 2);
  if (fields === undefined) return 'handover';
  let host: string | undefined;
  let hosts = 0;
  let lengths: string | undefined;
  let te: string | undefined;
  let close = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') host ??= value, hosts++;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return 'handover';
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return 'handover';
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('upgrade')) return 'handover';
          if (listsToken(v, 'close')) close = true;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // Two Content-Length lines, even equal ones: strict parsers refuse them, so Node answers 400.
          if (lengths !== undefined) return 'handover';
          lengths = value;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
        break;
    }
  }
  // Two Host headers, both framings, or any coding but a single chunked: Node's parser and the router answer 400 or 501.
  if (hosts > 1) return 'handover';
  let framing: Framing = { kind: 'none' };
  if (te !== undefined) {
    if (lengths !== undefined || requestTransferCoding(te) !== 'chunked') return 'handover';
    framing = { kind: 'chunked' };
  } else if (lengths !== undefined) {
    if (!digits.test(lengths)) return 'handover';
    // Kept even when 0: upstreams may want a Content-Length on a POST (411 otherwise).
    framing = { kind: 'length', length: Number(lengths) };
  }
  return { method, target: text.slice(methodEnd + 1, targetEnd), rawHeaders: fields, size: end + 4 - start, host, framing, close };
}

/** Parses a response head; heads larger than `max` are invalid. */
export function parseResponseHead(buf: Buffer, start: number, max: number): HeadResult<ResponseHead> {
  const end = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (end === -1) return buf.length - start > max || hasBareLf(buf, start) ? 'invalid' : 'incomplete';
  if (end + 4 - start > max) return 'invalid';
  const text = buf.toString('latin1', start, end);
  // status-line = HTTP/1.x SP status-code SP [ reason-phrase ]; status codes are 1xx–5xx (RFC 9110 §15):
  // Node refuses to write others, and clients read them differently.
  if (!text.startsWith('HTTP/1.') || text.charCodeAt(8) !== SP || text.charCodeAt(12) !== SP) return 'invalid';
  const minor = text.charCodeAt(7);
  const s0 = text.charCodeAt(9);
  const s1 = text.charCodeAt(10);
  const s2 = text.charCodeAt(11);
  if ((minor !== 48 && minor !== 49) || s0 < 49 || s0 > 53 || !isDigit(s1) || !isDigit(s2)) return 'invalid';
  const reasonEnd = skip(text, 13, VALUE);
  if (reasonEnd !== text.length && (text.charCodeAt(reasonEnd) !== CR || text.charCodeAt(reasonEnd + 1) !== LF)) return 'invalid';
  const fields = readFields(text, reasonEnd + 2);
  if (fields === undefined) return 'invalid';
  const http10 = minor === 48;
  let lengths: string | undefined;
  let te: string | undefined;
  let close = http10;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const v = value.toLowerCase();
      if (listsToken(v, 'close')) close = true;
      else if (http10 && listsToken(v, 'keep-alive')) close = false;
    } else if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (lengths !== undefined) return 'invalid';
      lengths = value;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      te = te === undefined ? value : `${te}, ${value}`;
    }
  }
  // Both framings in one response is how responses are smuggled; Node's client refuses it too.
  if (te !== undefined && lengths !== undefined) return 'invalid';
  if (lengths !== undefined && !digits.test(lengths)) return 'invalid';
  const coding = te === undefined ? { chunked: false, codings: [] } : responseTransferCoding(te);
  if (coding === 'invalid') return 'invalid';
  const status = (s0 - 48) * 100 + (s1 - 48) * 10 + (s2 - 48);
  return {
    status,
    reason: text.slice(13, reasonEnd),
    rawHeaders: fields,
    size: end + 4 - start,
    contentLength: lengths === undefined ? -1 : Number(lengths),
    transferEncoded: te !== undefined,
    chunked: coding.chunked,
    codings: coding.codings,
    close,
  };
}

/** Largest upstream response head accepted. Default: 64 KiB, as Node's client would not take more either. */
export const maxResponseHead = 64 * 1024;

/**
 * The final response head at the start of `buf`, for every engine that
 * reads upstream responses raw: interim responses (103 Early Hints, a stray
 * 100) are skipped, as Node's client skips them, and a 101 to a request
 * that asked for no upgrade is invalid. `buf` comes back starting at the
 * final head (or at the incomplete rest, to be kept until more arrives).
 */
export function parseFinalResponseHead(buf: Buffer): { head: ResponseHead | 'incomplete' | 'invalid'; buf: Buffer } {
  let head = parseResponseHead(buf, 0, maxResponseHead);
  while (typeof head !== 'string' && head.status < 200 && head.status !== 101) {
    buf = buf.subarray(head.size);
    head = parseResponseHead(buf, 0, maxResponseHead);
  }
  if (head === 'incomplete') return { head, buf };
  return { head: typeof head === 'string' || head.status === 101 ? 'invalid' : head, buf };
}

/** Whether buf[start…] holds an LF not preceded by CR. */
function hasBareLf(buf: Buffer, start: number): boolean {
  for (let at = buf.indexOf(10, start); at !== -1; at = buf.indexOf(10, at + 1)) {
    if (at === start || buf[at - 1] !== 13) return true;
  }
  return false;
}

/**
 * The header lines of `text` (a head without its final CRLF CRLF) from
 * `at`, as [name, value, …]; undefined on a bad name or value, obs-fold (a
 * line starting with whitespace has no valid name), or a CR or LF that does
 * not end a line.
 */
function readFields(text: string, at: number): string[] | undefined {
  const fields: string[] = [];
  const end = text.length;
  while (at < end) {
    const nameEnd = skip(text, at, TOKEN);
    if (nameEnd === at || text.charCodeAt(nameEnd) !== 58) return undefined;
    let valueStart = nameEnd + 1;
    while (valueStart < end && isOws(text.charCodeAt(valueStart))) valueStart++;
    const lineEnd = skip(text, valueStart, VALUE);
    if (lineEnd !== end && (text.charCodeAt(lineEnd) !== CR || text.charCodeAt(lineEnd + 1) !== LF)) return undefined;
    let valueEnd = lineEnd;
    while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
    fields.push(text.slice(at, nameEnd), text.slice(valueStart, valueEnd));
    at = lineEnd + 2;
  }
  return fields;
}

/** The first index from `at` whose character is not of `kind` (text.length when all are). */
function skip(text: string, at: number, kind: number): number {
  const end = text.length;
  while (at < end && (classes[text.charCodeAt(at)]! & kind) !== 0) at++;
  return at;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Whether the response to `method` with `status` has no body whatever its headers say (RFC 9112 §6.3). */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status < 200 || status === 204 || status === 304;
}

/** text[from…] without the optional whitespace (SP, HTAB) around a field value. */
export function trimOws(text: string, from: number): string {
  let start = from;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** Whether a lower-cased comma-separated list (a Connection value) holds `token`, with optional whitespace around it. */
export function listsToken(list: string, token: string): boolean {
  for (let at = list.indexOf(token); at !== -1; at = list.indexOf(token, at + 1)) {
    let before = at - 1;
    while (before >= 0 && isOws(list.charCodeAt(before))) before--;
    let after = at + token.length;
    while (after < list.length && isOws(list.charCodeAt(after))) after++;
    if ((before < 0 || list.charCodeAt(before) === 44) && (after === list.length || list.charCodeAt(after) === 44)) return true;
  }
  return false;
}

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}
