// A port held by another application is reported with the routes that
// wanted it, so the user knows which routes to move.
import t from 'tap';
import { PortInUseError, SmartProxy } from '../ts/index.js';
import { silentLogger } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { holdPort } from './helpers/port-probe.js';

t.test('PortInUseError from updateRoutes() names the routes that use the port', async (t) => {
  const [free, held] = [await getFreePort(), await getFreePort()];
  const other = await holdPort(held);
  t.teardown(() => other.close());
  const route = (name: string, port: number) => ({ name, match: { ports: port }, action: { type: 'block' as const } });
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [route('ok', free)] });
  await proxy.start();
  t.teardown(() => proxy.stop());
  const error = await proxy.updateRoutes([route('ok', free), route('mail', held), route('smtp', held)]).catch((e: unknown) => e);
  t.type(error, PortInUseError);
  t.match(error, { code: 'EADDRINUSE', port: held, host: '127.0.0.1', routes: ['mail', 'smtp'] });
  t.match((error as Error).message, new RegExp(`127\\.0\\.0\\.1:${held} is in use by another application.*routes that use ${held} \\('mail', 'smtp'\\)`));
  t.same(proxy.getListeningPorts(), [free], 'nothing was applied');
});
