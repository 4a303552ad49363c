// The readme's route and option reference is checked against what the code
// accepts: a field the validator knows, or an option with a default, that
// the readme does not mention fails here.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeSchema } from '../ts/routing/validate.js';
import { defaultHttp2, defaultLimits, defaultTimeouts, limitNames } from '../ts/options.js';
import { acmeOptions, smartProxyOptions } from '../ts/config/option-schema.js';
import { defaultTlsPolicy } from '../ts/proxy/tls/policy.js';
import { defaultAcmeTimeoutMs } from '../ts/certificates/certificate-manager.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'readme.md'), 'utf8');

t.test('every route field, action type and TLS mode is in the readme', async (t) => {
  for (const [group, values] of Object.entries(routeSchema)) {
    for (const value of values) t.ok(readme.includes(String(value)), `${group}: ${value}`);
  }
});

t.test('every timeout and limit option is in the readme with its default', async (t) => {
  for (const [name, value] of Object.entries(defaultTimeouts)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`timeouts.${name}\``));
    t.ok(row, `timeouts.${name} has a row`);
    t.ok(row?.includes(String(value)), `timeouts.${name} states its default ${value}`);
  }
  for (const [name, value] of Object.entries(defaultLimits)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`limits.${name}\``));
    t.ok(row, `limits.${name} has a row`);
    if (Number.isFinite(value)) t.ok(row?.includes(String(value)), `limits.${name} states its default ${value}`);
    else t.ok(row?.includes('no limit'), `limits.${name} says it has no limit by default`);
  }
});

t.test('every http2 option is in the readme with its default', async (t) => {
  for (const [name, value] of Object.entries(defaultHttp2)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`http2.${name}\``));
    t.ok(row, `http2.${name} has a row`);
    t.ok(row?.includes(String(value)), `http2.${name} states its default ${value}`);
  }
});

t.test('every tls policy option is in the readme with its default', async (t) => {
  for (const [name, value] of Object.entries(defaultTlsPolicy)) {
    const rows = readme.split('\n').filter((line) => line.startsWith(`| \`tls.${name}\``));
    t.ok(rows.length > 0, `tls.${name} has a row`);
    t.ok(rows.some((row) => row.includes(value)), `tls.${name} states its default ${value}`);
  }
});

t.test('the acme options table states acme.timeoutMs with its default', async (t) => {
  const row = readme.split('\n').find((line) => line.startsWith('| `timeoutMs`'));
  t.ok(row, 'acme timeoutMs has a row');
  t.ok(row?.includes(String(defaultAcmeTimeoutMs)), `and states its default ${defaultAcmeTimeoutMs}`);
});

t.test('the readme opens with the two set-up commands', async (t) => {
  const head = readme.split('\n').slice(0, 15).join('\n');
  t.match(head, /npm install && npm start/);
  t.match(head, /npm install && npm test/);
});

t.test('every option in the option table has a row in the readme', async (t) => {
  const rows = readme.split('\n').filter((line) => line.startsWith('| `'));
  for (const [name, spec] of Object.entries(smartProxyOptions)) {
    if (name === 'timeouts' || name === 'limits') continue; // one row per field, checked above
    // A group is documented by a row of its own, or field by field (`tls.minVersion`).
    const fields = spec.group !== undefined && name !== 'acme' ? Object.keys(spec.group).map((field) => `${name}.${field}`) : [];
    const hasRow = (documented: string) => rows.some((row) => row.startsWith(`| \`${documented}\``));
    t.ok(hasRow(name) || (fields.length > 0 && fields.every(hasRow)), `${name} has a row (or one per field)`);
  }
  for (const name of Object.keys(acmeOptions)) t.ok(rows.some((row) => row.startsWith(`| \`${name}\``)), `acme.${name} has a row`);
});

t.test('every limit name is in the readme, like the error codes', async (t) => {
  for (const name of limitNames) t.ok(readme.includes(`| \`${name}\` |`), `${name} has a row`);
});

t.test('the environment variable and the ESM-only rule are documented', async (t) => {
  t.match(readme, /SMARTPROXY_LOG_LEVEL/);
  t.match(readme, /ESM only/);
  t.match(readme, /await import\('smartproxy'\)/);
});
