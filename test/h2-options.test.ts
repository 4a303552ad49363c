// The HTTP/2 options and the route field are checked like every other one:
// an unknown name gets "did you mean", a wrong value says what was expected.
import t from 'tap';
import { InvalidOptionError, SmartProxy, createSelfSignedCertificate, type ISmartProxyOptions } from '../ts/index.js';
import { validateRoutes } from '../ts/routing/validate.js';

function problemsOf(options: unknown): string[] {
  try {
    new SmartProxy(options as ISmartProxyOptions);
    return [];
  } catch (error) {
    if (error instanceof InvalidOptionError) return error.problems.map((p) => `${p.option}: ${p.message}`);
    throw error;
  }
}

t.test('http2 option group', async (t) => {
  t.same(problemsOf({ routes: [], http2: { maxConcurentStreams: 10 } }), ["http2.maxConcurentStreams: is not a known option (did you mean 'maxConcurrentStreams'?)"]);
  t.match(problemsOf({ routes: [], http2: { streamWindowBytes: 1000 } }), [/http2\.streamWindowBytes: should be a whole number of bytes from 65535/]);
  t.match(problemsOf({ routes: [], http2: { maxConcurrentStreams: 0 } }), [/http2\.maxConcurrentStreams: should be a whole number of streams/]);
  t.same(problemsOf({ routes: [], http2: { maxConcurrentStreams: 50, maxHeaderListBytes: 16384, streamWindowBytes: 131072, sessionWindowBytes: 4194304, maxStreamsPerSession: Infinity, idleMs: 1000 } }), []);
});

t.test('action.tls.http2', async (t) => {
  const certificate = createSelfSignedCertificate({ domains: ['a.test'] });
  const route = (tls: Record<string, unknown>) => [{ match: { ports: 443, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: 1 }, tls } }];
  t.same(validateRoutes(route({ mode: 'terminate', certificate, http2: false })), []);
  t.match(validateRoutes(route({ mode: 'terminate', certificate, http2: 'no' })), [{ path: 'action.tls.http2', message: /true or false/ }]);
  t.match(validateRoutes(route({ mode: 'passthrough', http2: true })), [{ path: 'action.tls.http2', message: /not used with passthrough/ }]);
});
