/**
 * One forward route reached on every HTTP engine, like three-fronts.ts but
 * with the route's fields under the test's control (targets, load
 * balancing, header rules): `fast` (plain HTTP/1.1), `node` (the same
 * after a first request hands the connection to Node's server) and `tls`
 * (terminated TLS). Host `e.test` on both ports.
 */
import http from 'node:http';
import https from 'node:https';
import { createSelfSignedCertificate, type IRouteAction, type IRouteConfig, type ISmartProxyOptions, type SmartProxy } from '../../ts/index.js';
import { httpGet, type HttpResult } from './backends.js';
import { startProxy, type Teardown } from './data-path.js';
import { getFreePort } from './free-port.js';

export type Front = 'fast' | 'node' | 'tls';
export const fronts: readonly Front[] = ['fast', 'node', 'tls'];

const certificate = createSelfSignedCertificate({ domains: ['e.test'] });

export interface EdgeFronts {
  proxy: SmartProxy;
  plainPort: number;
  tlsPort: number;
  /** A request to `e.test` on `front`; `node` requests share one connection that a first request handed to Node. */
  request(front: Front, options?: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string }): Promise<HttpResult>;
}

/** `forward` is the forward action's target and load balancing; `extra` the route's other fields (headers). */
export async function startEdgeFronts(
  t: Teardown,
  forward: Pick<IRouteAction, 'target' | 'loadBalancing'>,
  extra: Partial<IRouteConfig> = {},
  options: Partial<ISmartProxyOptions> = {},
): Promise<EdgeFronts> {
  const plainPort = await getFreePort();
  const tlsPort = await getFreePort();
  const routesFor = (port: number, secure: boolean): IRouteConfig[] => {
    const tls = secure ? { tls: { mode: 'terminate' as const, certificate: { key: certificate.key, cert: certificate.cert } } } : {};
    return [
      { name: `handover-${port}`, match: { ports: port, domains: 'e.test', path: '/handover' }, action: { type: 'static', static: { status: 200, body: 'handover' }, ...tls } },
      { ...extra, name: `app-${port}`, match: { ports: port, domains: 'e.test' }, action: { type: 'forward', ...forward, ...tls } },
    ];
  };
  const proxy = await startProxy(t, [...routesFor(plainPort, false), ...routesFor(tlsPort, true)], options);
  // One connection for every `node` request: the first request is answered by Node, which keeps the connection from then on.
  const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => {
    nodeAgent.destroy();
    tlsAgent.destroy();
  });
  let handedOver: Promise<HttpResult> | undefined;

  const request: EdgeFronts['request'] = async (front, o = {}) => {
    if (front === 'fast') return httpGet(plainPort, { host: 'e.test', ...o });
    if (front === 'node') {
      handedOver ??= httpGet(plainPort, { host: 'e.test', path: '/handover', agent: nodeAgent });
      await handedOver;
      return httpGet(plainPort, { host: 'e.test', agent: nodeAgent, ...o });
    }
    return httpsRequest(tlsPort, tlsAgent, o);
  };
  return { proxy, plainPort, tlsPort, request };
}

function httpsRequest(port: number, agent: https.Agent, o: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, servername: 'e.test', rejectUnauthorized: false, agent, path: o.path ?? '/', method: o.method ?? 'GET', headers: { host: 'e.test', ...o.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}
