// A route given again with the same data as the live route of its name is
// recognised by walking it (no JSON copy) and keeps its compiled route; the
// walk must never call "same" what a JSON capture would call different, and
// what it skips (copy, validation, the map of names) must still be caught.
import t from 'tap';
import { RouteValidationError, type IRouteConfig } from '../ts/index.js';
import { RouteManager } from '../ts/routing/route-manager.js';
import { sameData } from '../ts/routing/same-data.js';
import { validateRoutes } from '../ts/routing/validate.js';

const target = { host: '127.0.0.1', port: 9 };
const copyOf = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

t.test('sameData: the same data in any key order; anything JSON would change is different', async (t) => {
  const route = { name: 'a', match: { ports: [80, { from: 90, to: 91 }], domains: 'a.test' }, action: { type: 'forward', target } };
  const copy = copyOf(route);
  t.ok(sameData(route, copy));
  t.ok(sameData({ action: route.action, match: route.match, name: 'a' }, copy), 'key order carries no meaning');
  t.ok(sameData({ ...route, priority: undefined }, copy), 'undefined fields are left out, as JSON does');
  t.notOk(sameData({ ...route, priority: 1 }, copy), 'an extra field');
  t.notOk(sameData({ name: 'a', match: route.match }, copy), 'a missing field');
  t.notOk(sameData({ ...route, match: { ...route.match, ports: [80, { from: 90, to: 92 }] } }, copy), 'a nested change');
  t.notOk(sameData({ ...route, match: { ...route.match, ports: [80] } }, copy), 'a shorter array');
  t.notOk(sameData({ p: NaN }, { p: null }), 'NaN is written as null by JSON');
  t.notOk(sameData({ p: [undefined] }, { p: [null] }), 'undefined in an array is written as null by JSON');
  t.notOk(sameData({ p: new Date(0) }, { p: new Date(0).toJSON() }), 'toJSON');
  t.notOk(sameData({ p: { toJSON: () => 1 } }, { p: 1 }), 'an own toJSON');
  class Box {
    v = 1;
  }
  t.notOk(sameData({ p: new Box() }, { p: { v: 1 } }), 'a class instance');
  t.notOk(sameData({ toString: Object.prototype.toString }, { a: 1 }), 'a field the copy only inherits');
  t.notOk(sameData({ __proto__: null, a: 1, b: 2 }, { a: 1 }), 'a null-prototype object with more fields');
  t.ok(sameData(Object.assign(Object.create(null), { a: 1 }), { a: 1 }), 'a null-prototype object with the same fields');
  t.notOk(sameData([1, 2], { 0: 1, 1: 2 }), 'an array is not an object');
  const handler = () => undefined;
  t.ok(sameData({ f: handler }, { f: handler }), 'functions by identity');
  t.notOk(sameData({ f: () => undefined }, { f: handler }));
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  t.notOk(sameData(cyclic, { a: 1, self: { a: 1, self: { a: 1 } } }), 'a cycle ends as different');
});

function forward(name: string, domains: string): IRouteConfig {
  return { name, match: { ports: 8080, domains }, action: { type: 'forward', target: { ...target } } };
}

t.test('RouteManager: a route given again keeps its compiled route; edits after the call do not matter', async (t) => {
  const manager = new RouteManager();
  const routes = [forward('a', 'a.test'), forward('b', 'b.test')];
  manager.commit(manager.prepare(routes));
  const [a, b] = manager.table.routes;
  const again = [copyOf(routes[0]!), routes[1]!];
  const captured = manager.capture(again);
  again[1]!.match.domains = 'edited.test';
  manager.commit(manager.prepare(captured));
  t.equal(manager.table.routes[0], a, 'a copy with the same data: the same compiled route');
  t.equal(manager.table.routes[1], b);
  t.equal(manager.table.ports.get(8080)!.http!.match('b.test', '/', '127.0.0.1'), b, 'the edit after capture did not reach the table');
  t.notOk(a!.state.retired || b!.state.retired);
  t.ok(Object.isFrozen(manager.getRoutes()[1]!.match));

  manager.commit(manager.prepare([forward('a', 'a.test'), forward('b', 'other.test')]));
  t.equal(manager.table.routes[0], a);
  t.not(manager.table.routes[1], b, 'changed data: compiled again');
  t.ok(b!.state.retired, 'and the old one retired');
});

t.test('RouteManager: a live route edited to be invalid is validated, not recognised', async (t) => {
  const manager = new RouteManager();
  manager.commit(manager.prepare([forward('a', 'a.test')]));
  const bad = forward('a', 'a.test');
  (bad.match as { ports: number }).ports = 70000;
  t.throws(() => manager.prepare([bad]), RouteValidationError);
  const nan = { ...forward('a', 'a.test'), priority: NaN };
  t.throws(() => manager.prepare([nan]), RouteValidationError, 'NaN priority: JSON would write null, and validation rejects it');
});

t.test('RouteManager: a socket handler is part of a route', async (t) => {
  const manager = new RouteManager();
  const handler = () => undefined;
  const route = (socketHandler: () => void): IRouteConfig => ({ name: 's', match: { ports: 2525 }, action: { type: 'socket-handler', socketHandler } });
  manager.commit(manager.prepare([route(handler)]));
  const first = manager.table.routes[0];
  manager.commit(manager.prepare([route(handler)]));
  t.equal(manager.table.routes[0], first, 'the same handler: the same route');
  manager.commit(manager.prepare([route(() => undefined)]));
  t.not(manager.table.routes[0], first, 'another handler: a new route');
  t.ok(first!.state.retired);
});

t.test('duplicate names are still found when the routes are live ones, and reported as validateRoutes reports them', async (t) => {
  const manager = new RouteManager();
  const live = [forward('a', 'a.test'), forward('b', 'b.test')];
  manager.commit(manager.prepare(live));
  const cases: [string, IRouteConfig[]][] = [
    ['a live route given twice', [forward('a', 'a.test'), forward('b', 'b.test'), forward('a', 'a.test')]],
    ['a changed route named as a live one', [forward('a', 'a.test'), forward('a', 'x.test')]],
    ['changed first, then the live one', [forward('b', 'x.test'), forward('a', 'a.test'), forward('b', 'b.test')]],
    ['new names', [forward('c', 'c.test'), forward('c', 'c.test'), forward('a', 'a.test')]],
    ['empty names', [{ ...forward('a', 'a.test'), name: '' }, { ...forward('a', 'a.test'), name: '' }]],
  ];
  for (const [what, routes] of cases) {
    const error = (() => {
      try {
        manager.prepare(routes);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(error instanceof RouteValidationError, what);
    t.same((error as RouteValidationError).errors, validateRoutes(routes), `${what}: the same problems, in the same order`);
  }
  t.equal(manager.table.routes.length, 2, 'nothing applied');
  // The marks left by those captures do not make the next good update look duplicated.
  t.doesNotThrow(() => manager.commit(manager.prepare(live)));
});

t.test('a table prepared but never committed leaves the live routes as they were', async (t) => {
  const manager = new RouteManager();
  manager.commit(manager.prepare([forward('a', 'a.test'), forward('b', 'b.test')]));
  const [a, b] = manager.table.routes;
  manager.prepare([forward('a', 'a.test')]); // abandoned, as when a port fails to bind
  const kept = manager.prepare([forward('b', 'b.test')]);
  // Committed out of turn: the later prepare's marks must not decide what is retired.
  const first = manager.prepare([forward('a', 'a.test'), forward('b', 'b.test')]);
  manager.prepare([forward('b', 'b.test')]);
  manager.commit(first);
  t.notOk(a!.state.retired || b!.state.retired, 'both still live');
  t.equal(manager.table.routes[1], b);
  manager.commit(kept);
  t.ok(a!.state.retired, 'a is gone');
  t.notOk(b!.state.retired);
});
