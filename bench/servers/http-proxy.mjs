// http-proxy (node-http-proxy) with a keep-alive agent, the common Node
// baseline. Usage: node http-proxy.mjs <config.json>
// config: { backendPort, httpPort, httpsPort?, key?, cert? }
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import httpProxy from 'http-proxy';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// Without an agent http-proxy opens a new upstream connection per request; nobody should run it that way.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${config.backendPort}`, agent, xfwd: true });
proxy.on('error', (err, _req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502);
  res?.end?.();
});
const handle = (req, res) => proxy.web(req, res);

function tune(server) {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  return server;
}

tune(http.createServer(handle)).listen(config.httpPort, '127.0.0.1');
if (config.httpsPort) {
  const tls = { key: readFileSync(config.key), cert: readFileSync(config.cert) };
  tune(https.createServer(tls, handle)).listen(config.httpsPort, '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
