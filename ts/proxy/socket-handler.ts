import type { Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import type { ProxyContext } from './context.js';

/**
 * Hands the socket to a route's user function. A throw or a rejected
 * promise is logged and the socket closed: a user bug never takes the
 * proxy down.
 */
export function runSocketHandler(ctx: ProxyContext, route: Route, socket: Socket, port: number, clientIp: string, domain: string | undefined): void {
  const fail = (error: unknown) => {
    ctx.logger.error({ route: route.name, err: error }, 'socket handler failed');
    socket.destroy();
  };
  try {
    const result = route.action.socketHandler!(socket, { port, clientIp, domain, routeName: route.name });
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
  // A socket we paused while peeking stays paused even when the handler adds
  // a 'data' listener; resume it for them (pipe() and async iteration manage it themselves).
  if (socket.readableFlowing === false && socket.listenerCount('data') > 0) socket.resume();
}
