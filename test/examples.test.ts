// Every example in examples/ runs as written, against loopback, and says what it promises.
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from './helpers/free-port.js';
import { startAcmeEnv } from './helpers/acme-env.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

async function example(name: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join('examples', name)], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  // Drop the proxy's JSON log lines; keep what the example prints.
  return stdout
    .split('\n')
    .filter((line) => !line.startsWith('{"level"'))
    .join('\n');
}

t.test('shared-port.ts', async (t) => {
  const out = await example('shared-port.ts', { PORT: String(await getFreePort()) });
  t.match(out, /shared by 2 routes/);
  t.match(out, /shop saw shop\.localhost/);
  t.match(out, /blog saw blog\.localhost/);
});

t.test('https-terminate.ts', async (t) => {
  const out = await example('https-terminate.ts', { HTTP_PORT: String(await getFreePort()), HTTPS_PORT: String(await getFreePort()) });
  t.match(out, /http {2}-> 308 https:\/\/app\.localhost:\d+\/hello/);
  t.match(out, /https -> app over https/);
});

t.test('live-update.ts', async (t) => {
  const out = await example('live-update.ts', { PORT: String(await getFreePort()) });
  t.match(out, /before: v1/);
  t.match(out, /after: {2}v2 \(same connection, port still bound: true\)/);
  t.equal(out.match(/bound \d+/g)?.length, 1, 'bound once');
});

t.test('acme.ts against Pebble', async (t) => {
  const env = await startAcmeEnv(t);
  const caFile = join(env.storeDir, 'pebble-ca.pem');
  await writeFile(caFile, env.pebble.caCertificate);
  const out = await example('acme.ts', {
    DOMAIN: 'example.test',
    HOST: '127.0.0.1',
    HTTP_PORT: String(env.httpPort),
    HTTPS_PORT: String(env.tlsPort),
    ACME_DIRECTORY_URL: env.pebble.directoryUrl,
    ACME_CA_FILE: caFile,
    CERT_DIR: env.storeDir,
  });
  t.match(out, /certificate for example\.test until \d{4}-/);
  t.match(out, /"status":"valid","source":"acme"|"source":"acme".*"status":"valid"/);
});

t.test('proxy.json is a valid CLI config', async (t) => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join('ts', 'cli', 'main.ts'), 'validate', join('examples', 'proxy.json')], { cwd: root });
  t.match(stdout, /2 routes, valid/);
});
