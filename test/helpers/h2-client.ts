/**
 * HTTP/2 clients for the h2 tests: Node's http2 client on one session, and
 * curl (which picks the protocol by ALPN the way a browser does).
 */
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import type { Teardown } from './data-path.js';

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP/2 session to 127.0.0.1:port with SNI `servername`, closed at teardown. */
export async function h2Session(t: Teardown, port: number, servername: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false, ...options });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** One request on the session; the body is collected whole. */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

export interface CurlResult {
  status: number;
  httpVersion: string;
  body: string;
}

/** curl against https://<host>:port<path>, resolved to 127.0.0.1; `protocol` is `--http2` or `--http1.1`. */
export function curl(port: number, host: string, path: string, protocol: '--http2' | '--http1.1', extra: string[] = []): Promise<CurlResult> {
  const marker = '\n--curl--';
  const args = ['-sk', protocol, '--max-time', '10', '--resolve', `${host}:${port}:127.0.0.1`, '-w', `${marker}%{http_code} %{http_version}`, ...extra, `https://${host}:${port}${path}`];
  return new Promise((resolve, reject) => {
    execFile('curl', args, (error, stdout) => {
      if (error) return reject(error);
      const at = stdout.lastIndexOf(marker);
      const [status, httpVersion] = stdout.slice(at + marker.length).split(' ');
      resolve({ status: Number(status), httpVersion: httpVersion ?? '', body: stdout.slice(0, at) });
    });
  });
}
