#!/usr/bin/env node
/**
 * The `smartproxy` command:
 *   smartproxy --config proxy.json [--watch]   run the proxy from a config file
 *   smartproxy validate proxy.json             report every problem in a config file, and every warning
 *   smartproxy routes --config proxy.json      print the route graph: port → mode → routes in match order
 * `validate`, `routes` and `--config` run the same checks (the option table,
 * every route, certificates and port conflicts), so a file that validates starts.
 * SIGHUP (or a change to the file with --watch) re-applies the file: routes,
 * logLevel, timeouts, limits and trustedProxies live; options that need a
 * restart (host, acme) are named in one warning. An invalid file is reported
 * and the running configuration stays. SIGTERM / SIGINT drain and exit.
 */
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { restartOnlyChanges } from '../config/option-schema.js';
import { SmartProxyError, RouteValidationError, InvalidOptionError } from '../errors.js';
import { defaultLogger } from '../logger.js';
import type { LogLevel } from '../options.js';
import { SmartProxy } from '../smart-proxy.js';
import { ConfigFileError, formatProblems, loadConfigFile, type ConfigFile } from './config-file.js';
import { watchFile } from './watch-file.js';
import type { IRouteGraph } from '../routing/route-graph-types.js';
import { formatRouteTree } from './route-tree.js';

const usage = `usage:
  smartproxy --config <file.json|file.yaml> [--watch]
  smartproxy validate <file>
  smartproxy routes --config <file>
options:
  -c, --config   the config file to run
  -w, --watch    re-apply the file when it changes (SIGHUP always does)
  -h, --help     this text
environment:
  SMARTPROXY_LOG_LEVEL   log level when the file sets no logLevel (default: info)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, watch: { type: 'boolean', short: 'w' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals[0] === 'validate') return validate(positionals[1] ?? values.config);
  if (positionals[0] === 'routes') return printRoutes(values.config ?? positionals[1]);
  if (values.config === undefined || positionals.length > 0) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  return run(values.config, values.watch === true);
}

/**
 * Loads the file and builds the proxy without binding anything: the option
 * table, every route, then what only a proxy can check (certificates load,
 * 'auto' has a way to obtain one, routes sharing a port agree).
 */
async function prepare(path: string, logger: Logger, level?: LogLevel): Promise<{ config: ConfigFile; proxy: SmartProxy }> {
  const config = await loadConfigFile(path);
  const proxy = new SmartProxy({ ...config, logger, logLevel: level ?? levelOf(config) });
  // Before start(), updateRoutes() validates exactly as start() will, and binds nothing.
  await proxy.updateRoutes(config.routes);
  return { config, proxy };
}

/** Reports every problem (exit 1) or, for a valid file, its warnings (still exit 0: warnings never block). */
async function validate(path: string | undefined): Promise<number> {
  const loaded = await loadGraph(path);
  if (typeof loaded === 'number') return loaded;
  const { config, graph } = loaded;
  const warnings = graph.warnings;
  process.stdout.write(`${path}: ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, valid${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}\n`);
  for (const warning of warnings) process.stdout.write(`  ${warning.route} (${warning.kind}): ${warning.message}\n`);
  return 0;
}

/** Prints the route graph of a config file as a tree, warnings beside their routes. */
async function printRoutes(path: string | undefined): Promise<number> {
  const loaded = await loadGraph(path);
  if (typeof loaded === 'number') return loaded;
  const { config, graph } = loaded;
  const ports = graph.ports.length;
  process.stdout.write(`${path}: ${config.routes.length} route${config.routes.length === 1 ? '' : 's'} on ${ports} port${ports === 1 ? '' : 's'}, ${graph.warnings.length} warning${graph.warnings.length === 1 ? '' : 's'}\n`);
  process.stdout.write(`${formatRouteTree(graph, config.routes)}\n`);
  return 0;
}

/** The file's config and the graph of its routes, or the exit status after printing why there is none. */
async function loadGraph(path: string | undefined): Promise<{ config: ConfigFile; graph: IRouteGraph } | number> {
  if (path === undefined) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  try {
    const { config, proxy } = await prepare(path, defaultLogger('silent'), 'silent');
    return { config, graph: proxy.getRouteGraph() };
  } catch (error) {
    process.stderr.write(`${describe(error)}\n`);
    return 1;
  }
}

async function run(path: string, watching: boolean): Promise<number> {
  const logger = defaultLogger(process.env.SMARTPROXY_LOG_LEVEL || 'info');
  let prepared;
  try {
    prepared = await prepare(path, logger);
  } catch (error) {
    process.stderr.write(`${describe(error)}\n`);
    return 1;
  }
  const { proxy } = prepared;
  logger.level = levelOf(prepared.config);
  try {
    await proxy.start();
  } catch (error) {
    logger.fatal({ err: error }, describe(error));
    return 1;
  }
  logger.info({ config: path, ports: proxy.getListeningPorts() }, 'smartproxy running');

  const reload = reloader(path, proxy, logger, prepared.config);
  process.on('SIGHUP', () => void reload('SIGHUP'));
  const watcher = watching ? watchFile(path, () => void reload('file changed')) : undefined;

  return new Promise((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'draining and stopping');
      watcher?.close();
      proxy.stop().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, 'stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

/**
 * Re-reads the file and applies what a running proxy can: routes (one
 * updateRoutes() transaction), then logLevel, timeouts, limits and
 * trustedProxies. Options that need a restart are named in one warning and
 * keep their running values. A bad file or a failed update changes nothing.
 * Reloads run one at a time, so a burst of saves cannot interleave.
 */
function reloader(path: string, proxy: SmartProxy, logger: Logger, initial: ConfigFile) {
  let running = initial;
  let queue = Promise.resolve();
  const reloadOnce = async (reason: string): Promise<void> => {
    try {
      const config = await loadConfigFile(path);
      await proxy.updateRoutes(config.routes);
      const level = levelOf(config);
      proxy.updateOptions({ timeouts: config.timeouts ?? {}, limits: config.limits ?? {}, trustedProxies: config.trustedProxies ?? [], logLevel: level });
      logger.level = level;
      const needRestart = restartOnlyChanges(running as Record<string, unknown>, config as Record<string, unknown>);
      // What runs now: the new file, except the options only a restart applies.
      running = { ...config, host: running.host, acme: running.acme };
      logger.info({ reason, routes: config.routes.length, ports: proxy.getListeningPorts() }, 'config re-applied');
      if (needRestart.length > 0) {
        logger.warn({ reason, needRestart }, `changed options that need a restart, still running with the old values: ${needRestart.join(', ')}`);
      }
    } catch (error) {
      logger.error({ reason, err: error instanceof ConfigFileError ? undefined : error }, `config not applied, running configuration kept: ${describe(error)}`);
    }
  };
  return (reason: string): Promise<void> => (queue = queue.then(() => reloadOnce(reason)));
}

function levelOf(config: ConfigFile): LogLevel {
  return config.logLevel ?? ((process.env.SMARTPROXY_LOG_LEVEL || 'info') as LogLevel);
}

function describe(error: unknown): string {
  if (error instanceof ConfigFileError) return `${error.message}\n${formatProblems(error.problems)}`;
  if (error instanceof RouteValidationError) return `${error.message}\n${formatProblems(error.errors)}`;
  if (error instanceof InvalidOptionError) return `${error.message}\n${error.problems.map((p) => `  config ${p.option}: ${p.message}`).join('\n')}`;
  if (SmartProxyError.isSmartProxyError(error) || error instanceof Error) return error.message;
  return String(error);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`smartproxy: ${describe(error)}\n`);
    process.exit(1);
  },
);
