// One proxy process of a pair sharing a certificate store and a challenge
// store. Config comes as JSON in argv[2]; every certificate and port event
// goes to stdout as one JSON line. It runs until its stdin closes.
import { pino } from 'pino';
import { SmartProxy, type IAcmeOptions, type IRouteConfig } from '../../ts/index.js';
import { FileChallengeStore } from './file-challenge-store.js';

interface ChildConfig {
  acme: IAcmeOptions;
  challengeDir: string;
  routes: IRouteConfig[];
}

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const say = (event: string, payload: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ event, ...payload })}\n`);
const logger = pino({ level: 'info' }, { write: (line: string) => void say('log', { line: JSON.parse(line) as unknown }) });
const proxy = new SmartProxy({ host: '127.0.0.1', logger, acme: { ...config.acme, challengeStore: new FileChallengeStore(config.challengeDir) }, routes: config.routes });
proxy.on('certificate-issued', ({ domain }) => say('certificate-issued', { domain }));
proxy.on('certificate-renewed', ({ domain }) => say('certificate-renewed', { domain }));
proxy.on('certificate-failed', ({ domain, error }) => say('certificate-failed', { domain, message: error.message }));
proxy.on('port-bound', ({ port }) => say('port-bound', { port }));
await proxy.start();
say('started', {});
process.stdin.resume();
process.stdin.on('end', () => void proxy.stop().then(() => process.exit(0)));
