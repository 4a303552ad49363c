import type { OnReadOpts } from 'node:net';

/** What Node reads per call on a socket by default, and the size of an upstream socket's own read buffer. */
export const readBufferSize = 64 * 1024;

/** `net.connect`'s `onread` option. */
export type OwnReadBuffer = OnReadOpts;

/**
 * Gives a socket one read buffer of its own, reused for every read, instead
 * of Node's fresh 64 KiB allocation per read. That allocation is what made a
 * long-lived proxy slow: after V8's first full collection its heap limit
 * follows the small live heap, and relaying a large body then ran a full
 * mark-compact every few dozen megabytes. Reusing the buffer leaves the
 * collector nothing to do on the byte-relaying path.
 *
 * `deliver` gets a view into the buffer that is valid until it returns. It
 * returns true when the bytes are still referenced afterwards (a write that
 * is still queued, a kept partial head): the socket then reads into a fresh
 * buffer from then on, and the old one belongs to whoever holds it. On
 * loopback and on fast clients the writes complete at once, so this is rare.
 */
export function ownReadBuffer(deliver: (view: Buffer) => boolean): OwnReadBuffer {
  let buffer = Buffer.allocUnsafeSlow(readBufferSize);
  let kept = false;
  return {
    buffer: () => {
      if (kept) {
        kept = false;
        buffer = Buffer.allocUnsafeSlow(readBufferSize);
      }
      return buffer;
    },
    callback: (bytes, read) => {
      kept = deliver((read as Buffer).subarray(0, bytes));
      // Reading goes on; backpressure pauses the socket itself.
      return true;
    },
  };
}
