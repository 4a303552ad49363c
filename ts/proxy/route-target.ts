import type { Route } from '../routing/route.js';

/** The next upstream host (round-robin over a list) and port for a forward route. */
export function pickTarget(route: Route, incomingPort: number): { host: string; port: number } {
  const hosts = route.targetHosts;
  const state = route.state;
  const host = hosts.length === 1 ? hosts[0]! : hosts[state.nextTarget++ % hosts.length]!;
  const port = route.action.target!.port;
  return { host, port: port === 'preserve' ? incomingPort : port };
}
