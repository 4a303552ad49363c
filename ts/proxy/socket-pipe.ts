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
  if (partner.destroyed) return;
  // Nothing the partner sends can be delivered any more, so it must close
  // too: waiting for its peer's FIN would leave it open for good, since the
  // pipe that read it is gone. A partner whose write side the pipe ended
  // may still be flushing the last bytes: destroySoon lets them go first.
  if (partner.writableEnded) partner.destroySoon();
  else partner.destroy();
}
