// The origin every contender forwards to: a small answer on any path and a
// 1 MiB body on /1m, over HTTP and (same handler) HTTPS.
// Usage: node backend.mjs <httpPort> [<httpsPort> <key.pem> <cert.pem>]
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

const [httpPort, httpsPort, keyFile, certFile] = process.argv.slice(2);
const small = Buffer.from('hello world\n');
const big = Buffer.alloc(1024 * 1024, 'x');
const smallHeaders = { 'content-type': 'text/plain', 'content-length': small.length };
const bigHeaders = { 'content-type': 'application/octet-stream', 'content-length': big.length };

function handle(req, res) {
  // Drain request bodies so keep-alive connections stay usable.
  req.resume();
  if (req.url === '/1m') {
    res.writeHead(200, bigHeaders);
    res.end(big);
  } else {
    res.writeHead(200, smallHeaders);
    res.end(small);
  }
}

// Idle keep-alive connections (the 10k scenario) must outlive the measurement: Node's default is 5 s.
function tune(server) {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  return server;
}

tune(http.createServer(handle)).listen(Number(httpPort), '127.0.0.1');
if (httpsPort) {
  const tls = { key: readFileSync(keyFile), cert: readFileSync(certFile) };
  tune(https.createServer(tls, handle)).listen(Number(httpsPort), '127.0.0.1');
}
process.on('SIGTERM', () => process.exit(0));
