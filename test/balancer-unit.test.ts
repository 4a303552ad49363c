// The balancer on its own (issue 17): passive ejection after maxFails
// failures in the window, the last-resort pick when every target is
// ejected, exclusions, and round-robin order, without sockets.
import t from 'tap';
import { pino } from 'pino';
import { Balancer } from '../ts/proxy/balancer/balancer.js';
import { passiveDefaults } from '../ts/proxy/balancer/upstream.js';

const logger = pino({ level: 'silent' });
const balancer = (policy?: 'round-robin' | 'least-connections' | 'ip-hash') =>
  new Balancer({ type: 'forward', target: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 3 }], loadBalancing: { policy } });

t.test('round-robin takes targets in turn and never an excluded one', async (t) => {
  const b = balancer();
  t.same([0, 1, 2, 3].map(() => b.select('1.1.1.1')!.key), ['a:1', 'b:2', 'c:3', 'a:1']);
  const [a, bb] = b.targets as [never, never];
  for (let i = 0; i < 6; i++) t.equal(b.select('1.1.1.1', [a, bb])!.key, 'c:3');
  t.equal(b.select('1.1.1.1', b.targets), undefined, 'nothing left when all are excluded');
});

t.test(`${passiveDefaults.maxFails} failures eject a target; success or the last resort bring it back`, async (t) => {
  const b = balancer();
  const a = b.targets[0]!;
  for (let i = 0; i < passiveDefaults.maxFails - 1; i++) b.reportFailure(a, logger, 'r');
  t.notOk(b.metrics()[0]!.ejected, 'not yet');
  b.reportFailure(a, logger, 'r');
  t.ok(b.metrics()[0]!.ejected, 'ejected');
  t.notOk(Array.from({ length: 10 }, () => b.select('x')).includes(a), 'an ejected target gets nothing while others are up');
  t.equal(b.select('x', [b.targets[1]!, b.targets[2]!]), a, 'but is the last resort when every other one is excluded');
  b.reportSuccess(a);
  t.notOk(b.metrics()[0]!.ejected, 'a success ends the ejection');
  t.equal(b.metrics()[0]!.failures, passiveDefaults.maxFails, 'failures are counted for metrics');
});

t.test('least-connections picks the fewest in flight; an unhealthy target is never picked', async (t) => {
  const b = balancer('least-connections');
  const [a, bb, c] = b.targets as [never, never, never];
  b.acquire(a);
  b.acquire(bb);
  t.equal(b.select('x'), c);
  b.acquire(c);
  b.acquire(c);
  t.not(b.select('x'), c);
  (b.targets[0]! as { healthy: boolean }).healthy = false;
  t.equal(b.select('x'), bb, 'a is down: b has fewer than c');
  (b.targets[1]! as { healthy: boolean }).healthy = false;
  (b.targets[2]! as { healthy: boolean }).healthy = false;
  t.equal(b.select('x'), undefined, 'all unhealthy: none');
});

t.test('ip-hash: the same client gets the same target, and another when it goes down', async (t) => {
  const b = balancer('ip-hash');
  const first = b.select('203.0.113.5')!;
  for (let i = 0; i < 10; i++) t.equal(b.select('203.0.113.5'), first);
  (first as { healthy: boolean }).healthy = false;
  const second = b.select('203.0.113.5')!;
  t.not(second, first, 'moved while its target is down');
  (first as { healthy: boolean }).healthy = true;
  t.equal(b.select('203.0.113.5'), first, 'and back once it recovers');
});
