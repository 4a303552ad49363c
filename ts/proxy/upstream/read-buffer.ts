import type { OnReadOpts } from 'node:net';

/** What Node reads per call on a socket by default, and the size of each read buffer here. */
export const readBufferSize = 64 * 1024;

/** A read at least this large means a bulk flow (a big body): it earns a buffer of its own. */
const bulkRead = 16 * 1024;

/** Buffers given back by flows that went quiet, for the next bulk flow. */
const spare: Buffer<ArrayBuffer>[] = [];
const maxSpare = 32;

/**
 * Where reads land for every socket that is not in a bulk flow. Shared, so
 * whatever lands here is copied out before anyone sees it (the copy is the
 * size of the read, which is small: that is why the socket is here).
 */
const landing = Buffer.allocUnsafeSlow(readBufferSize);

/**
 * `net.connect`'s `onread` option for a socket we open, replacing Node's
 * fresh 64 KiB allocation per read. That allocation is what made a
 * long-lived proxy slow: after V8's first full collection its heap limit
 * follows the small live heap, and relaying large bodies then ran a full
 * mark-compact every few dozen megabytes.
 *
 * A socket whose last read was large reads into a buffer of its own, handed
 * to `deliver` as a view that is valid until `deliver` returns; `deliver`
 * returns true when the bytes are still referenced afterwards (a write the
 * other socket queued, a kept partial head), and the socket then moves to
 * another buffer. A socket whose last read was small (a small response, an
 * idle keep-alive or tunnel) gives its buffer back and reads into the
 * shared landing buffer, delivered as a copy (`copied`: the receiver may
 * keep it as it is). No socket holds 64 KiB while it is quiet, and a busy
 * one allocates nothing per read.
 */
export function ownReadBuffer(deliver: (view: Buffer, copied: boolean) => boolean): OnReadOpts {
  let current = landing;
  let kept = false;
  let last = 0;
  return {
    buffer: () => {
      if (last >= bulkRead) {
        if (current === landing || kept) current = spare.pop() ?? Buffer.allocUnsafeSlow(readBufferSize);
      } else if (current !== landing) {
        // Quiet again: the buffer is free for another flow, unless a queued write still points into it.
        if (!kept && spare.length < maxSpare) spare.push(current);
        current = landing;
      }
      kept = false;
      return current;
    },
    callback: (bytes, read) => {
      last = bytes;
      if (read === landing) deliver(Buffer.from(landing.subarray(0, bytes)), true);
      else kept = deliver((read as Buffer).subarray(0, bytes), false);
      // Reading goes on; backpressure pauses the socket itself.
      return true;
    },
  };
}
