/**
 * Pending HTTP-01 tokens and their key authorizations. In memory by
 * default; several proxy processes behind one address would share one
 * (Redis, a database) so whichever process the CA reaches can answer.
 */
export interface IChallengeStore {
  /**
   * True when other processes read and write the same tokens (Redis, a
   * database): every proxy process then answers HTTP-01 from the store on
   * its ACME port, not only the one whose order placed the token. Default:
   * false (tokens are this process's own).
   */
  readonly shared?: boolean;
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
