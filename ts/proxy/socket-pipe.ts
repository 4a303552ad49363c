import type { Socket } from 'node:net';

/**
 * Pipes two sockets both ways and ties their lifetimes together: an error or
 * abrupt close on either side destroys both, so no connection is orphaned.
 * A graceful end (FIN) is passed on as a half-close and the other direction
 * keeps flowing until it ends too (TCP half-open keeps working).
 */
export function pipeSockets(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
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
  // A partner whose write side was ended by the pipe is flushing its last
  // bytes and closes by itself; destroying it now would drop them.
  if (!partner.destroyed && !partner.writableEnded) partner.destroy();
}
