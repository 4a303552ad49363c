// One proxy instance of a fleet sharing a RedisStore. Config comes as JSON in
// argv[2]; each stdin line is a JSON list of routes to apply; every
// certificate and port event, and every log line, goes to stdout as one JSON
// line; a line {"renew": domain} obtains that certificate again now. Closing
// stdin stops it.
import { pino } from 'pino';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmartProxy, createSelfSignedCertificate, type IAcmeOptions, type IRouteConfig } from '../../ts/index.js';
import { RedisStore } from '../../ts/redis/index.js';

export interface RedisChildConfig {
  redisUrl: string;
  prefix: string;
  leaseMs: number;
  acme: IAcmeOptions;
  routes: IRouteConfig[];
  /** RedisStore's syncIntervalMs. Default: its own (30 s). */
  syncIntervalMs?: number;
  /** Obtain certificates with a provision function that takes this long (and says so on stdout) instead of ACME. */
  slowProvisionMs?: number;
}

const config = JSON.parse(process.argv[2]!) as RedisChildConfig;
const say = (event: string, payload: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ event, ...payload })}\n`);
const logger = pino({ level: 'info' }, { write: (line: string) => void say('log', { line: JSON.parse(line) as unknown }) });
const store = new RedisStore({ url: config.redisUrl, prefix: config.prefix, leaseMs: config.leaseMs, syncIntervalMs: config.syncIntervalMs, lockPollMs: 100, maxReconnectDelayMs: 500 });
const certProvisionFunction =
  config.slowProvisionMs === undefined
    ? undefined
    : async (domain: string) => {
        say('provisioning', { domain });
        await sleep(config.slowProvisionMs);
        return createSelfSignedCertificate({ domains: [domain] });
      };
const proxy = new SmartProxy({ host: '127.0.0.1', logger, store, acme: config.acme, certProvisionFunction, routes: config.routes });
proxy.on('certificate-issued', ({ domain }) => say('certificate-issued', { domain }));
proxy.on('certificate-renewed', ({ domain }) => say('certificate-renewed', { domain }));
proxy.on('certificate-failed', ({ domain, error }) => say('certificate-failed', { domain, message: error.message }));
proxy.on('port-bound', ({ port }) => say('port-bound', { port }));
await proxy.start();
say('started', {});
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as IRouteConfig[] | { renew: string };
  if (!Array.isArray(command)) return void proxy.certificateManager.provisionCertificate(command.renew).catch(() => undefined);
  proxy.updateRoutes(command).then(
    () => say('routes-applied', {}),
    (error: Error) => say('routes-failed', { message: error.message }),
  );
});
lines.on('close', () => void proxy.stop().then(() => store.close()).then(() => process.exit(0)));
