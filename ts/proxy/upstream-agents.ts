import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/**
 * Keep-alive connection pools to upstreams, one pair per proxy instance.
 * LIFO scheduling keeps a few hot sockets busy and lets the rest time out.
 */
export class UpstreamAgents {
  readonly http = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  /**
   * For terminate-and-reencrypt. Upstream certificates are not verified, as
   * with nginx's default `proxy_ssl_verify off`: re-encrypted backends are
   * usually private ones with self-signed certificates.
   */
  readonly https = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', rejectUnauthorized: false });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
