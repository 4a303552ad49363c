import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ISmartProxyOptions } from '../options.js';
import type { RouteProblem } from '../errors.js';
import { validateRoutes } from '../routing/validate.js';

/** What a config file holds: the proxy options that can be written as data, plus the log level. */
export interface ConfigFile extends Omit<ISmartProxyOptions, 'logger' | 'certProvisionFunction'> {
  logLevel?: string;
}

export class ConfigFileError extends Error {
  readonly problems: RouteProblem[];

  constructor(path: string, problems: RouteProblem[]) {
    super(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    this.name = 'ConfigFileError';
    this.problems = problems;
  }
}

const topLevelKeys = ['routes', 'acme', 'host', 'trustedProxies', 'timeouts', 'limits', 'tls', 'logLevel'];

/**
 * Reads a JSON or YAML (by extension) config file and checks it as a whole:
 * every problem in every route is reported, with the route's name and field.
 */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(path, [{ route: 'file', path: '', message: `cannot be read: ${(error as Error).message}` }]);
  }
  let data: unknown;
  try {
    data = ['.yaml', '.yml'].includes(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(path, [{ route: 'file', path: '', message: `is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}` }]);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigFileError(path, [{ route: 'file', path: '', message: 'should be an object with a routes list' }]);
  }
  const problems: RouteProblem[] = [];
  for (const key of Object.keys(data)) {
    if (!topLevelKeys.includes(key)) problems.push({ route: 'config', path: key, message: `is not a known setting (known: ${topLevelKeys.join(', ')})` });
  }
  const config = data as ConfigFile;
  if (config.routes === undefined) problems.push({ route: 'config', path: 'routes', message: 'is required: a list of routes' });
  else problems.push(...validateRoutes(config.routes));
  if (problems.length > 0) throw new ConfigFileError(path, problems);
  return config;
}

export function formatProblems(problems: readonly RouteProblem[]): string {
  return problems.map((p) => `  ${p.route}${p.path ? ` ${p.path}` : ''}: ${p.message}`).join('\n');
}
