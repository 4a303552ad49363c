import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/**
 * Keep-alive connection pools to upstreams, one pair per proxy instance.
 * LIFO scheduling keeps a few hot sockets busy and lets the rest time out.
 */
export class UpstreamAgents {
  readonly http = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  /**
   * For terminate-and-reencrypt. Verification is set per request (see
   * upstreamTlsOptions), never here: an agent's own options override a
   * request's, and node:https keys its pool by each request's `ca`,
   * `rejectUnauthorized` and `servername`, so verified, unverified and
   * differently verified sockets live in separate pools of this one agent.
   */
  readonly https = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
