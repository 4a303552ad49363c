import type { OnReadOpts, Socket } from 'node:net';

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

/**
 * Whether `to` takes a write straight to its handle now: nothing queued
 * before it and not corked. Read before delivering a chunk, for
 * `writeKeepsChunk`. (An empty write in flight counts as nothing queued,
 * yet holds the next write back: the callers never write empty chunks.)
 */
export function writesThrough(to: Socket): boolean {
  return to.writableLength === 0 && to.writableCorked === 0;
}

/**
 * Whether `to` still points into a chunk just written to it: whether the
 * read buffer must move on. A plain socket's write the kernel did not take
 * at once keeps its bytes until it completes. A TLS socket's write
 * completes later too, but a write that went through to its handle
 * (`throughAtStart`, and one write or one corked batch) was encrypted or
 * copied inside the call (TLSWrap::DoWrite, node/src/crypto/crypto_tls.cc);
 * only writes queued behind another would still point into the chunk.
 */
export function writeKeepsChunk(to: Socket, throughAtStart: boolean): boolean {
  if (to.destroyed) return true;
  if (to.writableLength === 0) return false;
  return !(throughAtStart && (to as Socket & { encrypted?: boolean }).encrypted === true);
}
