// A type test, checked by `tsc -p tsconfig.test.json` (npm test's typecheck
// step); it is never run. It uses the public API the way a user would, and
// each @ts-expect-error line fails the type-check if the public surface ever
// again lets a caller change ports or routes around updateRoutes().
import {
  SmartProxy,
  type ICertificateManagerView,
  type ICertificateStatus,
  type ILiveOptions,
  type IMetrics,
  type IPortManagerView,
  type IRouteConfig,
  type IRouteManagerView,
  type ISmartProxyOptions,
  type LimitName,
  type LogLevel,
  type SmartProxyEvents,
  type ErrorCode,
} from '../../ts/index.js';

export async function publicApi(options: ISmartProxyOptions): Promise<void> {
  const proxy = new SmartProxy(options);
  const ports: IPortManagerView = proxy.portManager;
  const routes: IRouteManagerView = proxy.routeManager;
  const certificates: ICertificateManagerView = proxy.certificateManager;
  const bound: boolean = ports.isPortBoundBySmartProxy(80);
  const count: number = ports.getPortRefCount(80);
  const listening: number[] = ports.getListeningPorts();
  const current: readonly IRouteConfig[] = routes.getRoutes();
  const status: ICertificateStatus | undefined = certificates.getCertificateStatus('a.test');
  const obtained: Promise<ICertificateStatus> = certificates.provisionCertificate('a.test');
  const live: ILiveOptions = { timeouts: { headersMs: 5000 }, limits: { maxConnections: 10 }, logLevel: 'debug' satisfies LogLevel };
  proxy.updateOptions(live);
  const metrics: IMetrics = proxy.getMetrics();
  const hits: number | undefined = metrics.limitHits['maxConnections' satisfies LimitName];
  proxy.on('routes-updated', ({ routes: count, ports }: SmartProxyEvents['routes-updated'][0]) => void [count, ports]);
  const code: ErrorCode = 'ERR_INVALID_OPTION';
  void [bound, count, listening, current, status, obtained, hits, code];

  // @ts-expect-error binding a port behind the transaction's back is not public
  await proxy.portManager.addPort(8080);
  // @ts-expect-error nor is releasing one
  await proxy.portManager.removePort(8080);
  // @ts-expect-error nor counting one
  proxy.portManager.incrementPortRefCount(8080);
  // @ts-expect-error nor closing them all
  await proxy.portManager.closeAll();
  // @ts-expect-error routes are changed by updateRoutes() only
  proxy.routeManager.commit(proxy.routeManager.prepare([]));
  // @ts-expect-error internal routes are private
  await proxy.setInternalRoute({ config: { name: 'x', match: { ports: 80 }, action: { type: 'block' } }, requestHandler: () => true });
  // @ts-expect-error the certificate manager's route hooks are not public
  proxy.certificateManager.routesApplied(undefined);
  // @ts-expect-error views are read-only
  proxy.portManager = ports;
  // @ts-expect-error an unknown option is a type error too
  new SmartProxy({ routes: [], enableDetailedLogging: true });
  // @ts-expect-error and a misspelt acme option
  new SmartProxy({ routes: [], acme: { email: 'a@b.c', useProdution: true } });
}
