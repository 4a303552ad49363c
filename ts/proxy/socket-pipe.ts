import type { OnReadOpts, Socket } from 'node:net';
import { ownReadBuffer, writeKeepsChunk, writesThrough } from './upstream/read-buffer.js';

/**
 * Pipes two sockets both ways and ties their lifetimes together: an error or
 * abrupt close on either side destroys both, so no connection is orphaned.
 * A graceful end (FIN) is passed on as a half-close and the other direction
 * keeps flowing until it ends too (TCP half-open keeps working).
 */
export function pipeSockets(a: Socket, b: Socket, bReadsIntoA = false): void {
  a.pipe(b);
  if (!bReadsIntoA) b.pipe(a);
  else {
    // b was opened with readsInto(a): its bytes reach a already; only its end and a's drain are left to wire.
    b.on('end', () => a.end());
    a.on('drain', () => b.resume());
  }
  const destroyBoth = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroyBoth);
  b.on('error', destroyBoth);
  a.once('close', () => closePartner(b));
  b.once('close', () => closePartner(a));
}

function closePartner(partner: Socket): void {
  if (partner.destroyed) return;
  // Nothing the partner sends can be delivered any more, so it must close
  // too: waiting for its peer's FIN would leave it open for good, since the
  // pipe that read it is gone. A partner whose write side the pipe ended
  // may still be flushing the last bytes: destroySoon lets them go first.
  if (partner.writableEnded) partner.destroySoon();
  else partner.destroy();
}

/**
 * `onread` options for a socket we open (an upstream) whose bytes all go to
 * `to`: each read is written from one reusable buffer (see read-buffer.ts),
 * and a `to` that cannot take more pauses the reading socket, `from()`,
 * until it drains (pipeSockets with `bReadsIntoA` resumes it).
 */
export function readsInto(to: Socket, from: () => Socket | undefined): OnReadOpts {
  return ownReadBuffer((view) => {
    if (to.destroyed) return false;
    const through = writesThrough(to);
    if (!to.write(view)) from()?.pause();
    return writeKeepsChunk(to, through);
  });
}
