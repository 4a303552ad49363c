import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkOptions } from '../config/option-schema.js';
import { ConfigFileError, type RouteProblem } from '../errors.js';
import type { ISmartProxyOptions } from '../options.js';
import { validateRoutes } from '../routing/validate.js';

export { ConfigFileError } from '../errors.js';

/** What a config file holds: every proxy option that can be written as data. */
export type ConfigFile = Omit<ISmartProxyOptions, 'logger' | 'certProvisionFunction'>;

/**
 * Reads a JSON or YAML (by extension) config file and checks it as a whole,
 * with the same option table as `new SmartProxy()`: every problem in every
 * option and every route is reported, with its dotted path.
 */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  const data = await readConfigData(path);
  const problems = checkConfig(data);
  if (problems.length > 0) throw new ConfigFileError(path, problems);
  return data as ConfigFile;
}

/** Every problem with a config file's contents: options first (route `config`), then each route. */
export function checkConfig(data: unknown): RouteProblem[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return [{ route: 'file', path: '', message: 'should be an object with a routes list' }];
  }
  const problems: RouteProblem[] = checkOptions(data, { fromFile: true }).map((p) => ({ route: 'config', path: p.path, message: p.message }));
  const routes = (data as { routes?: unknown }).routes;
  if (Array.isArray(routes)) problems.push(...validateRoutes(routes));
  return problems;
}

async function readConfigData(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(path, [{ route: 'file', path: '', message: `cannot be read: ${(error as Error).message}` }]);
  }
  try {
    return ['.yaml', '.yml'].includes(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(path, [{ route: 'file', path: '', message: `is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}` }]);
  }
}

export function formatProblems(problems: readonly RouteProblem[]): string {
  return problems.map((p) => `  ${p.route}${p.path ? ` ${p.path}` : ''}: ${p.message}`).join('\n');
}
