// Validation of the load-balancing and edge fields (issue 17): target
// forms, loadBalancing, and the proxyProtocol / accessLog options, each
// problem named with its path and, for a misspelling, a suggestion.
import t from 'tap';
import { InvalidOptionError, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { validateRoutes } from '../ts/routing/validate.js';
import { checkOptions } from '../ts/config/option-schema.js';

const forward = (action: Partial<IRouteConfig['action']>): unknown => [{ name: 'r', match: { ports: 8080 }, action: { type: 'forward', ...action } }];

t.test('target forms', async (t) => {
  t.same(validateRoutes(forward({ target: [{ host: 'a', port: 1 }, { host: 'b', port: 2, proxyProtocol: 'v2' }] })), [], 'a list of { host, port }');
  t.same(validateRoutes(forward({ target: { host: ['a', 'b'], port: 'preserve', proxyProtocol: 'v1' } })), [], 'host list with one port');
  t.match(validateRoutes(forward({ target: [] })), [{ path: 'action.target', message: /at least one/ }]);
  t.match(validateRoutes(forward({ target: [{ host: 'a', port: 'preserve' }] as never })), [{ path: 'action.target[0].port' }], "'preserve' needs the single-port form");
  t.match(validateRoutes(forward({ target: [{ host: '', port: 1, prot: 1 }] as never })), [{ path: 'action.target[0].prot' }, { path: 'action.target[0].host' }]);
  t.match(validateRoutes(forward({ target: { host: 'a', port: 1, proxyProtocol: 'v3' } as never })), [{ path: 'action.target.proxyProtocol', message: /'v1' or 'v2'/ }]);
});

t.test('loadBalancing', async (t) => {
  const target = { host: 'a', port: 1 };
  t.same(validateRoutes(forward({ target, loadBalancing: { policy: 'ip-hash', healthCheck: { path: '/h', intervalMs: 100, timeoutMs: 50, unhealthyThreshold: 1, healthyThreshold: 1 } } })), []);
  t.match(validateRoutes(forward({ target, loadBalancing: { policy: 'least-connection' } as never })), [{ path: 'action.loadBalancing.policy', message: /did you mean 'least-connections'/ }]);
  t.match(validateRoutes(forward({ target, loadBalancing: { healthcheck: {} } as never })), [{ path: 'action.loadBalancing.healthcheck', message: /did you mean 'healthCheck'/ }]);
  t.match(validateRoutes(forward({ target, loadBalancing: { healthCheck: { path: 'h', intervalMs: 0, unhealthyThreshold: 1.5 } } })), [
    { path: 'action.loadBalancing.healthCheck.path' },
    { path: 'action.loadBalancing.healthCheck.intervalMs' },
    { path: 'action.loadBalancing.healthCheck.unhealthyThreshold' },
  ]);
  t.match(validateRoutes([{ match: { ports: 80 }, action: { type: 'static', loadBalancing: {} } }]), [{ path: 'action.loadBalancing', message: /only used by forward/ }]);
});

t.test('proxyProtocol and accessLog options', async (t) => {
  t.same(checkOptions({ routes: [], proxyProtocol: { allowFrom: ['10.0.0.0/8', '::1'] }, accessLog: true }), []);
  t.match(checkOptions({ routes: [], proxyProtocol: { allowfrom: [] } }), [{ path: 'proxyProtocol.allowfrom', message: /did you mean 'allowFrom'/ }, { path: 'proxyProtocol.allowFrom', message: /required/ }]);
  t.match(checkOptions({ routes: [], proxyProtocol: { allowFrom: ['not-an-ip'] } }), [{ path: 'proxyProtocol.allowFrom[0]' }]);
  t.match(checkOptions({ routes: [], accessLog: 'yes' }), [{ path: 'accessLog', message: /true, false or \{ logger \}/ }]);
  t.match(checkOptions({ routes: [], accessLog: { loger: {} } }), [{ path: 'accessLog.loger', message: /did you mean 'logger'/ }, { path: 'accessLog.logger' }]);
  t.match(checkOptions({ routes: [], accesLog: true }), [{ path: 'accesLog', message: /did you mean 'accessLog'/ }]);
  t.throws(() => new SmartProxy({ routes: [], proxyProtocol: { allowFrom: ['x'] } }), InvalidOptionError);
});
