/**
 * A proxy in a child process, for tests that must see it crash: an uncaught
 * exception ends the child, and the parent notices (`exited`) instead of the
 * test runner catching it. Run as a script, this file is the child: it takes
 * the routes and options from the first IPC message, starts the proxy and
 * answers `ready`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ISmartProxyOptions, IRouteConfig } from '../../ts/index.js';
import type { Teardown } from './data-path.js';

export interface ProxyProcess {
  readonly child: ChildProcess;
  /** Why the child ended (exit code, signal, and its last stderr lines), or undefined while it runs. */
  exited(): string | undefined;
}

interface Setup {
  routes: IRouteConfig[];
  options: Partial<ISmartProxyOptions>;
}

/** Starts the proxy in a child process; killed at teardown. */
export async function startProxyProcess(t: Teardown, routes: IRouteConfig[], options: Partial<ISmartProxyOptions> = {}): Promise<ProxyProcess> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import=tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  let ended: string | undefined;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  child.on('exit', (code, signal) => (ended = `proxy process exited (code ${code}, signal ${signal}):\n${stderr}`));
  t.teardown(() => {
    if (ended === undefined) child.kill();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', () => reject(new Error(ended)));
    child.send({ routes, options } satisfies Setup);
  });
  return { child, exited: () => ended };
}

async function runChild(): Promise<void> {
  const { SmartProxy } = await import('../../ts/index.js');
  const { silentLogger } = await import('./backends.js');
  process.once('message', async (setup: Setup) => {
    const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), ...setup.options, routes: setup.routes });
    await proxy.start();
    process.send!('ready');
    // The parent going away (or killing us) is the only way out.
    process.on('disconnect', () => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runChild();
