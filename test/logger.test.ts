// Logs a person can read: the default logger is pretty on a terminal and
// JSON otherwise, every line is named smartproxy (with a caller's logger
// too), and the plain-text fallback for a terminal without pino-pretty.
import t from 'tap';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { defaultLogger, plainText, proxyLogger } from '../ts/logger.js';

const run = promisify(execFile);
const logger = new URL('../ts/logger.ts', import.meta.url).href;

async function logFromChild(tty: boolean): Promise<string> {
  const script = `${tty ? 'process.stdout.isTTY = true;' : ''} const { defaultLogger } = await import(${JSON.stringify(logger)}); defaultLogger('info').info({ port: 8080, address: '127.0.0.1' }, 'port bound: 127.0.0.1:8080');`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, SMARTPROXY_LOG_LEVEL: '' } });
  return stdout;
}

t.test('the default logger writes JSON when stdout is not a terminal', async (t) => {
  const line = JSON.parse((await logFromChild(false)).trim()) as Record<string, unknown>;
  t.match(line, { name: 'smartproxy', msg: 'port bound: 127.0.0.1:8080', port: 8080, level: 30 });
});

t.test('and pretty lines on a terminal', async (t) => {
  const out = await logFromChild(true);
  t.throws(() => JSON.parse(out.trim()), 'not JSON');
  t.match(out, /INFO/);
  t.match(out, /port bound: 127\.0\.0\.1:8080/);
});

t.test('a caller\'s logger gets a child named smartproxy; the level can be set without touching the caller\'s', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const parent = pino({ level: 'info', base: { app: 'mine' } }, new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
  const child = proxyLogger(parent, 'debug');
  child.debug('from the proxy');
  parent.debug('from the app');
  t.same(lines.map((l) => [l.name, l.app, l.msg]), [['smartproxy', 'mine', 'from the proxy']]);
  t.equal(parent.level, 'info', 'the caller\'s level is untouched');
  const named = proxyLogger(defaultLogger('silent'));
  t.same(Object.keys(named.bindings()).filter((k) => k === 'name').length <= 1, true, 'no second name on our own logger');
});

t.test('the plain-text fallback is one readable line per entry', async (t) => {
  let out = '';
  const sink = new Writable({ write(chunk: Buffer, _e, done) { out += chunk.toString(); done(); } });
  const log = pino({ name: 'smartproxy' }, plainText(sink));
  log.warn({ limit: 'maxConnections', port: 80 }, 'limit reached: maxConnections');
  t.match(out, /^\d\d:\d\d:\d\d WARN  limit reached: maxConnections limit=maxConnections port=80\n$/);
});
