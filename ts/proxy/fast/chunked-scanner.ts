/**
 * Finds where a chunked body ends (RFC 9112 §7.1) without decoding it: the
 * fast path forwards the chunked bytes as they are and only needs to know
 * which byte is the last of the message. Fed chunk by chunk, so a body
 * split at any byte boundary is read the same. Strict: a bare LF, a size
 * without hex digits or one over 2^52, or a control character in an
 * extension or trailer is an error.
 */

const enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  FinalLf,
  Done,
}

/** Returned by `scan` when the bytes are not valid chunked framing. */
export const chunkedError = -2;

export class ChunkedScanner {
  #state = S.Size;
  #size = 0;
  #digits = 0;
  #remaining = 0;

  get done(): boolean {
    return this.#state === S.Done;
  }

  reset(): void {
    this.#state = S.Size;
    this.#size = 0;
    this.#digits = 0;
    this.#remaining = 0;
  }

  /**
   * Reads buf[start, end). Returns the offset just past the body's last
   * byte, -1 when the body continues past `end`, or `chunkedError`.
   */
  scan(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.#state) {
        case S.Data: {
          const take = Math.min(this.#remaining, end - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S.DataCr;
          continue;
        }
        case S.Size: {
          const c = buf[i]!;
          const v = hexValue(c);
          if (v !== -1) {
            if (++this.#digits > 13) return chunkedError;
            this.#size = this.#size * 16 + v;
          } else if (this.#digits === 0) {
            return chunkedError;
          } else if (c === 13) {
            this.#state = S.SizeLf;
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            this.#state = S.Ext;
          } else {
            return chunkedError;
          }
          break;
        }
        case S.Ext: {
          const c = buf[i]!;
          if (c === 13) this.#state = S.SizeLf;
          else if ((c < 32 && c !== 9) || c === 127) return chunkedError;
          break;
        }
        case S.SizeLf:
          if (buf[i] !== 10) return chunkedError;
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
          if (buf[i] !== 13) return chunkedError;
          this.#state = S.DataLf;
          break;
        case S.DataLf:
          if (buf[i] !== 10) return chunkedError;
          this.#state = S.Size;
          break;
        case S.TrailerStart: {
          const c = buf[i]!;
          if (c === 13) this.#state = S.FinalLf;
          else if (c < 33 || c === 127) return chunkedError;
          else this.#state = S.Trailer;
          break;
        }
        case S.Trailer: {
          const c = buf[i]!;
          if (c === 13) this.#state = S.TrailerLf;
          else if ((c < 32 && c !== 9) || c === 127) return chunkedError;
          break;
        }
        case S.TrailerLf:
          if (buf[i] !== 10) return chunkedError;
          this.#state = S.TrailerStart;
          break;
        case S.FinalLf:
          if (buf[i] !== 10) return chunkedError;
          this.#state = S.Done;
          return i + 1;
        default:
          return chunkedError;
      }
      i++;
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
