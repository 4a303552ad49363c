// `npm start` runs the demo: it prints curl lines, and each one works when run with the real curl.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from './helpers/free-port.js';

const run = promisify(execFile);

t.test('the demo serves what it tells you to try', async (t) => {
  const env = { ...process.env, DEMO_HTTP_PORT: String(await getFreePort()), DEMO_HTTPS_PORT: String(await getFreePort()) };
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'ts', 'demo.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('Ctrl-C')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`demo exited ${code}: ${out}`)));
  });
  const curls = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('curl '));
  t.equal(curls.length, 4, 'four curl lines printed');
  const answers: string[] = [];
  for (const line of curls) {
    // The printed lines use single quotes only around header values; split respecting them.
    const args = [...line.slice(5).matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
    const { stdout } = await run('curl', ['-sS', '--max-time', '5', ...args]);
    answers.push(stdout.trim());
  }
  t.match(answers[0], /^hello from blue: GET \/ \(Host: blue\.localhost/);
  t.match(answers[1], /^hello from green: GET \//);
  t.equal(answers[2], 'hello from the proxy itself');
  t.match(answers[3], /^hello from blue: GET \/ \(Host: blue\.localhost:\d+, X-Forwarded-For: 127\.0\.0\.1\)/, 'HTTPS through the generated certificate');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
});
