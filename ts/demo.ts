/**
 * `npm start`: a small demo on an embedded default. Two local backends sit
 * behind one shared port, routed by Host, with an HTTPS route on a
 * certificate made at start-up. Prints the curl lines to try it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createSelfSignedCertificate } from './certificates/self-signed.js';
import { PortInUseError } from './errors.js';
import { SmartProxy } from './smart-proxy.js';
import type { IRouteConfig } from './routing/types.js';

async function startBackend(name: string): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${name}: ${req.method} ${req.url} (Host: ${req.headers.host}, X-Forwarded-For: ${req.headers['x-forwarded-for']})\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function demoRoutes(httpPort: number, httpsPort: number, blue: number, green: number): IRouteConfig[] {
  const certificate = createSelfSignedCertificate({ domains: ['blue.localhost', 'green.localhost'] });
  const to = (port: number) => ({ host: '127.0.0.1', port });
  return [
    { name: 'blue', match: { ports: httpPort, domains: 'blue.localhost' }, action: { type: 'forward', target: to(blue) } },
    { name: 'green', match: { ports: httpPort, domains: 'green.localhost' }, action: { type: 'forward', target: to(green) } },
    { name: 'blue-https', match: { ports: httpsPort, domains: 'blue.localhost' }, action: { type: 'forward', target: to(blue), tls: { mode: 'terminate', certificate } } },
    { name: 'hello', match: { ports: httpPort, path: '/hello' }, priority: 10, action: { type: 'static', static: { body: 'hello from the proxy itself\n', headers: { 'content-type': 'text/plain' } } } },
  ];
}

/** Tries the preferred ports first; falls back to free ones when another application holds them. */
async function startProxy(logger: pino.Logger, blue: number, green: number): Promise<{ proxy: SmartProxy; httpPort: number; httpsPort: number }> {
  const wanted = [Number(process.env.DEMO_HTTP_PORT ?? 8080), Number(process.env.DEMO_HTTPS_PORT ?? 8443)] as const;
  try {
    const proxy = new SmartProxy({ logger, host: '127.0.0.1', routes: demoRoutes(wanted[0], wanted[1], blue, green) });
    await proxy.start();
    return { proxy, httpPort: wanted[0], httpsPort: wanted[1] };
  } catch (error) {
    if (!(error instanceof PortInUseError)) throw error;
    logger.warn(`${error.message}; using free ports instead`);
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const proxy = new SmartProxy({ logger, host: '127.0.0.1', routes: demoRoutes(httpPort, httpsPort, blue, green) });
    await proxy.start();
    return { proxy, httpPort, httpsPort };
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function main(): Promise<void> {
  const logger = pino({ level: process.env.SMARTPROXY_LOG_LEVEL ?? 'warn' });
  const backends = [await startBackend('blue'), await startBackend('green')];
  const [blue, green] = backends.map((s) => (s.address() as AddressInfo).port) as [number, number];
  const { proxy, httpPort, httpsPort } = await startProxy(logger, blue, green);
  process.stdout.write(
    [
      `smartproxy demo: one listener on ${httpPort} shared by ${proxy.portManager.getPortRefCount(httpPort)} routes (two backends by Host, one static), HTTPS on ${httpsPort}.`,
      `listening ports: ${proxy.getListeningPorts().join(', ')}`,
      '',
      'try:',
      `  curl -H 'Host: blue.localhost' http://127.0.0.1:${httpPort}/`,
      `  curl -H 'Host: green.localhost' http://127.0.0.1:${httpPort}/`,
      `  curl http://127.0.0.1:${httpPort}/hello`,
      `  curl -k --resolve blue.localhost:${httpsPort}:127.0.0.1 https://blue.localhost:${httpsPort}/`,
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  const shutdown = async () => {
    await proxy.stop();
    for (const server of backends) server.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
