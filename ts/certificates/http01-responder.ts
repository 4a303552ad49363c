import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IChallengeStore } from './challenge-store.js';

export const challengePathPrefix = '/.well-known/acme-challenge/';

/** A token is base64url (RFC 8555 §8.1); anything else is not a challenge we could have issued. */
const tokenShape = /^[A-Za-z0-9_-]{16,256}$/;

/**
 * Answers `/.well-known/acme-challenge/<token>` with the key authorization
 * of a pending token, and 404 for anything else: unknown tokens, other path
 * shapes, methods other than GET/HEAD. Never forwards anywhere.
 */
export function createHttp01Responder(store: IChallengeStore) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    const token = url.startsWith(challengePathPrefix) ? url.slice(challengePathPrefix.length) : '';
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !tokenShape.test(token)) return notFound(res);
    store.get(token).then(
      (keyAuthorization) => {
        if (keyAuthorization === undefined) return notFound(res);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuthorization) });
        res.end(req.method === 'HEAD' ? undefined : keyAuthorization);
      },
      () => {
        res.writeHead(500, { 'content-length': 0 });
        res.end();
      },
    );
  };
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
  res.end('not found\n');
}
