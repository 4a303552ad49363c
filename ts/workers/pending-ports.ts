import type { Socket } from 'node:net';

/**
 * Connections on ports a worker started accepting on for a staged route
 * generation, held until that generation is committed or aborted. A worker
 * listens on a new port while staging (so a port it cannot listen on fails
 * the update, not the commit), and the IPC round trips to the commit take
 * milliseconds: a connection in that window would otherwise meet a table
 * that does not route its port (at start, an empty one) and be closed.
 * Held sockets read nothing into the router yet; what arrives is buffered.
 */
export class PendingPorts {
  readonly #held = new Map<number, Socket[]>();

  /** Holds the connections of `port` from now until settle(). */
  add(port: number): void {
    if (!this.#held.has(port)) this.#held.set(port, []);
  }

  /** Holds the connection if its port is pending; false: serve it now. */
  hold(socket: Socket, port: number): boolean {
    const sockets = this.#held.get(port);
    if (sockets === undefined) return false;
    sockets.push(socket);
    return true;
  }

  /** Ends the wait: each held connection whose port is now routed is served, the others are closed. */
  settle(routed: (port: number) => boolean, serve: (socket: Socket, port: number) => void): void {
    const held = [...this.#held];
    this.#held.clear();
    for (const [port, sockets] of held) {
      for (const socket of sockets) {
        if (socket.destroyed) continue;
        if (routed(port)) serve(socket, port);
        else socket.destroy();
      }
    }
  }
}
