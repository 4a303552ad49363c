/**
 * Pending HTTP-01 tokens and their key authorizations. In memory by
 * default; several proxy processes behind one address would share one
 * (Redis, a database) so whichever process the CA reaches can answer.
 */
export interface IChallengeStore {
  set(token: string, keyAuthorization: string): Promise<void>;
  get(token: string): Promise<string | undefined>;
  delete(token: string): Promise<void>;
}

export class MemoryChallengeStore implements IChallengeStore {
  readonly #tokens = new Map<string, string>();

  async set(token: string, keyAuthorization: string): Promise<void> {
    this.#tokens.set(token, keyAuthorization);
  }

  async get(token: string): Promise<string | undefined> {
    return this.#tokens.get(token);
  }

  async delete(token: string): Promise<void> {
    this.#tokens.delete(token);
  }
}
