/**
 * Reads a chunked body (RFC 9112 §7.1) strictly and hands on a normalised
 * copy: chunk sizes and data pass through as they are (no copy in the
 * common case), while chunk extensions and trailer fields are checked
 * against the grammar and then left out, so the next hop never sees bytes
 * that parsers disagree on, nor fields (Host, X-Forwarded-For) that would
 * skip the proxy's header rules. Fed chunk by chunk, so a body split at
 * any byte boundary is read the same. A bare LF, a size without hex digits
 * or over 2^52, a malformed extension, or a trailer line that is not a
 * field is an error.
 *
 * In decode mode (`new ChunkedScanner(true)`) the same reading hands on
 * only the data bytes, for engines that pass a body on decoded (Node's
 * ServerResponse, HTTP/2 DATA), and keeps the trailer fields, which an
 * HTTP/2 client may be sent as trailers.
 */

import { trimOws } from './head-parser.js';

const enum S {
  Size,
  /** Whitespace after the size, before ';'. */
  ExtBws,
  ExtNameStart,
  ExtName,
  ExtAfterName,
  ExtValueStart,
  ExtToken,
  ExtQuoted,
  ExtEscape,
  ExtAfterValue,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  FinalLf,
  Done,
}

/** Returned by `scan` when the bytes are not valid chunked framing. */
export const chunkedError = -2;

/** Longest chunk extension accepted on one size line; nobody sends long ones but attackers. */
const maxExtensionBytes = 4096;
/** Longest trailer section accepted. Default: 16 KiB, the default request head limit. */
const maxTrailerBytes = 16_384;

export class ChunkedScanner {
  /** Whether only data bytes are handed on (decode mode), rather than the normalised framing. */
  readonly #decode: boolean;
  #state = S.Size;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  /** Bytes of the current extension or trailer section, for their caps. */
  #skipped = 0;
  /** Decode mode: the trailer fields read so far as [name, value, …], and the text of the line being read. */
  #trailers: string[] = [];
  #line = '';

  constructor(decode = false) {
    this.#decode = decode;
  }

  get done(): boolean {
    return this.#state === S.Done;
  }

  reset(): void {
    this.#state = S.Size;
    this.#size = 0;
    this.#digits = 0;
    this.#remaining = 0;
    this.#skipped = 0;
    this.#trailers = [];
    this.#line = '';
  }

  /** Decode mode: the trailer fields of a finished body, [name, value, …] with OWS trimmed from values. */
  get trailers(): readonly string[] {
    return this.#trailers;
  }

  /**
   * Reads buf[start, end) and appends what the next hop should get of it
   * to `out` (in decode mode, the data bytes only). Returns the offset
   * just past the body's last byte, -1 when the body continues past `end`,
   * or `chunkedError`.
   */
  scan(buf: Buffer, start: number, end: number, out: Buffer[]): number {
    let i = start;
    /** Start of the bytes passed on as they are; -1 while inside an extension or trailer. */
    // Decode mode passes nothing as it is: data is pushed by the Data state itself.
    const decode = this.#decode;
    let pass = decode || this.#skipping() ? -1 : start;
    while (i < end) {
      const c = buf[i]!;
      switch (this.#state) {
        case S.Data: {
          const take = Math.min(this.#remaining, end - i);
          if (decode) push(out, buf, i, i + take);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S.DataCr;
          continue;
        }
        case S.Size: {
          const v = hexValue(c);
          if (v !== -1) {
            if (++this.#digits > 13) return chunkedError;
            this.#size = this.#size * 16 + v;
          } else if (this.#digits === 0) {
            return chunkedError;
          } else if (c === 13) {
            this.#state = S.SizeLf;
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            push(out, buf, pass, i);
            pass = -1;
            this.#skipped = 0;
            this.#state = c === 59 ? S.ExtNameStart : S.ExtBws;
          } else {
            return chunkedError;
          }
          break;
        }
        case S.SizeLf:
          if (c !== 10) return chunkedError;
          if (this.#size === 0) {
            this.#state = S.TrailerStart;
          } else {
            this.#remaining = this.#size;
            this.#state = S.Data;
          }
          this.#size = 0;
          this.#digits = 0;
          break;
        case S.DataCr:
          if (c !== 13) return chunkedError;
          this.#state = S.DataLf;
          break;
        case S.DataLf:
          if (c !== 10) return chunkedError;
          this.#state = S.Size;
          break;
        case S.TrailerStart:
          if (c === 13) {
            if (pass === -1 && !decode) pass = i;
            this.#state = S.FinalLf;
            break;
          }
          if (!isToken(c)) return chunkedError;
          if (pass !== -1) push(out, buf, pass, i);
          pass = -1;
          this.#state = S.TrailerName;
          if (++this.#skipped > maxTrailerBytes) return chunkedError;
          if (decode) this.#line = String.fromCharCode(c);
          break;
        case S.TrailerName:
        case S.TrailerValue:
        case S.TrailerLf:
          if (++this.#skipped > maxTrailerBytes) return chunkedError;
          if (!this.#trailer(c)) return chunkedError;
          if (decode) this.#keepTrailer(c);
          break;
        case S.FinalLf:
          if (c !== 10) return chunkedError;
          this.#state = S.Done;
          push(out, buf, pass, i + 1);
          return i + 1;
        case S.Done:
          return chunkedError;
        default:
          // One of the extension states.
          if (++this.#skipped > maxExtensionBytes || !this.#extension(c)) return chunkedError;
          // #extension moved the state on; TypeScript's narrowing does not know.
          if ((this.#state as S) === S.SizeLf && !decode) pass = i;
      }
      i++;
    }
    if (pass !== -1) push(out, buf, pass, end);
    return -1;
  }

  /** Decode mode: one byte of a trailer line the grammar took; a finished line becomes a field. */
  #keepTrailer(c: number): void {
    if (this.#state !== S.TrailerStart) {
      // The line's CR is not part of it; its LF moves the state back to TrailerStart.
      if (c !== 13) this.#line += String.fromCharCode(c);
      return;
    }
    const line = this.#line;
    const colon = line.indexOf(':');
    this.#trailers.push(line.slice(0, colon), trimOws(line, colon + 1));
    this.#line = '';
  }

  /** Whether the scanner is inside bytes that are checked but not passed on. */
  #skipping(): boolean {
    const s = this.#state;
    return (s >= S.ExtBws && s <= S.ExtAfterValue) || (s >= S.TrailerName && s <= S.TrailerLf);
  }

  /** One byte of a chunk extension (RFC 9112 §7.1.1); false when it breaks the grammar. */
  #extension(c: number): boolean {
    const ws = c === 32 || c === 9;
    switch (this.#state) {
      case S.ExtBws:
        if (c === 59) this.#state = S.ExtNameStart;
        else if (!ws) return false;
        return true;
      case S.ExtNameStart:
        if (isToken(c)) this.#state = S.ExtName;
        else if (!ws) return false;
        return true;
      case S.ExtName:
      case S.ExtAfterName:
        if (c === 61 /* = */) this.#state = S.ExtValueStart;
        else if (c === 59) this.#state = S.ExtNameStart;
        else if (ws) this.#state = S.ExtAfterName;
        else if (c === 13 && this.#state === S.ExtName) this.#state = S.SizeLf;
        else if (!(isToken(c) && this.#state === S.ExtName)) return false;
        return true;
      case S.ExtValueStart:
        if (c === 34 /* " */) this.#state = S.ExtQuoted;
        else if (isToken(c)) this.#state = S.ExtToken;
        else if (!ws) return false;
        return true;
      case S.ExtToken:
        if (c === 13) this.#state = S.SizeLf;
        else if (c === 59) this.#state = S.ExtNameStart;
        else if (ws) this.#state = S.ExtAfterValue;
        else if (!isToken(c)) return false;
        return true;
      case S.ExtQuoted:
        if (c === 34) this.#state = S.ExtAfterValue;
        else if (c === 92 /* \ */) this.#state = S.ExtEscape;
        else if (!isFieldText(c)) return false;
        return true;
      case S.ExtEscape:
        this.#state = S.ExtQuoted;
        return isFieldText(c);
      case S.ExtAfterValue:
        if (c === 13) this.#state = S.SizeLf;
        else if (c === 59) this.#state = S.ExtNameStart;
        else if (!ws) return false;
        return true;
      default:
        return false;
    }
  }

  /** One byte of a trailer field line after its first (RFC 9112 §7.1.2: field lines as in a head). */
  #trailer(c: number): boolean {
    switch (this.#state) {
      case S.TrailerName:
        if (c === 58 /* : */) this.#state = S.TrailerValue;
        else if (!isToken(c)) return false;
        return true;
      case S.TrailerValue:
        if (c === 13) this.#state = S.TrailerLf;
        else if (!isFieldText(c)) return false;
        return true;
      default:
        // TrailerLf
        if (c !== 10) return false;
        this.#state = S.TrailerStart;
        return true;
    }
  }
}

/** Appends buf[from, to) to `out`, the whole buffer itself when it is all of it. */
function push(out: Buffer[], buf: Buffer, from: number, to: number): void {
  if (from === -1 || to <= from) return;
  out.push(from === 0 && to === buf.length ? buf : buf.subarray(from, to));
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** tchar (RFC 9110 §5.6.2). */
const tchar = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~") tchar[ch.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) tchar[c] = 1;
for (let c = 65; c <= 90; c++) tchar[c] = 1;
for (let c = 97; c <= 122; c++) tchar[c] = 1;

function isToken(c: number): boolean {
  return tchar[c] === 1;
}

/** HTAB, SP, VCHAR and obs-text: what a field value or quoted string may hold. */
function isFieldText(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}
