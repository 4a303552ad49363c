#!/usr/bin/env node
/**
 * The `smartproxy` command:
 *   smartproxy --config proxy.json [--watch]   run the proxy from a config file
 *   smartproxy validate proxy.json             report every problem in a config file, and every warning
 *   smartproxy routes --config proxy.json      print the route graph: port → mode → routes in match order
 * SIGHUP (or a change to the file with --watch) re-applies the file through
 * updateRoutes(); an invalid file is reported and the running routes stay.
 * SIGTERM / SIGINT drain open requests and exit.
 */
import { watch } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { SmartProxy } from '../smart-proxy.js';
import { SmartProxyError, RouteValidationError } from '../errors.js';
import { ConfigFileError, formatProblems, loadConfigFile, type ConfigFile } from './config-file.js';
import { RouteManager } from '../routing/route-manager.js';
import { buildRouteGraph, idlePorts } from '../routing/route-graph.js';
import type { IRouteGraph } from '../routing/route-graph-types.js';
import { formatRouteTree } from './route-tree.js';

const usage = `usage:
  smartproxy --config <file.json|file.yaml> [--watch]
  smartproxy validate <file>
  smartproxy routes --config <file>
options:
  -c, --config   the config file to run
  -w, --watch    re-apply the file when it changes (SIGHUP always does)
  -h, --help     this text`;

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
    const config = await loadConfigFile(path);
    const table = new RouteManager().prepare(config.routes).table;
    return { config, graph: buildRouteGraph(table, idlePorts(table)) };
  } catch (error) {
    const problems = error instanceof ConfigFileError ? error.problems : error instanceof RouteValidationError ? error.errors : undefined;
    if (problems === undefined) throw error;
    process.stderr.write(`${error instanceof ConfigFileError ? error.message : `${path}: ${(error as Error).message}`}\n${formatProblems(problems)}\n`);
    return 1;
  }
}

async function run(path: string, watchFile: boolean): Promise<number> {
  let config;
  try {
    config = await loadConfigFile(path);
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    process.stderr.write(`${error.message}\n${formatProblems(error.problems)}\n`);
    return 1;
  }
  const logger = createLogger(config.logLevel);
  const { logLevel: _ignored, ...options } = config;
  const proxy = new SmartProxy({ ...options, logger });
  try {
    await proxy.start();
  } catch (error) {
    logger.fatal({ err: error }, describe(error));
    return 1;
  }
  logger.info({ config: path, ports: proxy.getListeningPorts() }, 'smartproxy running');

  const reload = reloader(path, proxy, logger);
  process.on('SIGHUP', () => void reload('SIGHUP'));
  let debounce: NodeJS.Timeout | undefined;
  const watcher = watchFile
    ? watch(path, () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void reload('file changed'), 100);
      })
    : undefined;

  return new Promise((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'draining and stopping');
      watcher?.close();
      clearTimeout(debounce);
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

/** Re-reads the file and applies its routes; a bad file or a failed update leaves the running routes in place. */
function reloader(path: string, proxy: SmartProxy, logger: Logger) {
  return async (reason: string): Promise<void> => {
    try {
      const config = await loadConfigFile(path);
      await proxy.updateRoutes(config.routes);
      logger.info({ reason, routes: config.routes.length, ports: proxy.getListeningPorts() }, 'config re-applied');
    } catch (error) {
      const detail = error instanceof ConfigFileError ? `\n${formatProblems(error.problems)}` : '';
      logger.error({ reason, err: error instanceof ConfigFileError ? undefined : error }, `config not applied, running routes kept: ${describe(error)}${detail}`);
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof RouteValidationError) return `${error.message}\n${formatProblems(error.errors)}`;
  if (SmartProxyError.isSmartProxyError(error) || error instanceof Error) return error.message;
  return String(error);
}

/** pino JSON, or pino-pretty when a person is watching the terminal. */
function createLogger(level = 'info'): Logger {
  if (process.stdout.isTTY) return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true } } });
  return pino({ level });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`smartproxy: ${describe(error)}\n`);
    process.exit(1);
  },
);
