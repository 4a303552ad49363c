import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IChallengeStore } from '../../ts/index.js';

/**
 * HTTP-01 tokens as files in one directory: a challenge store several
 * processes share, as a Redis one would be. `shared` tells each proxy to
 * answer tokens it did not place.
 */
export class FileChallengeStore implements IChallengeStore {
  readonly shared = true;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async set(token: string, keyAuthorization: string): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeFile(join(this.#dir, token), keyAuthorization);
  }

  async get(token: string): Promise<string | undefined> {
    return readFile(join(this.#dir, token), 'utf8').catch(() => undefined);
  }

  async delete(token: string): Promise<void> {
    await rm(join(this.#dir, token), { force: true });
  }
}
