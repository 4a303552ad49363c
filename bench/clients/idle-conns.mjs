// Opens `count` keep-alive connections, sends one small request on each, and
// then leaves them idle. Talks to the runner over IPC: sends
// { ready, opened, failed } once everything is open, answers 'report' with
// { open } (connections still open), exits on 'exit'.
// Usage: node idle-conns.mjs '<json>'   json: { port, host, count, parallel, tls? }
// With tls: true each connection is a TLS one (SNI = host, certificate not
// checked: the bench's own self-signed one), full handshake, no resumption.
import net from 'node:net';
import tls from 'node:tls';

const o = JSON.parse(process.argv[2]);
// One context for all connections: building one per connection would make this client the bottleneck.
const secureContext = o.tls ? tls.createSecureContext() : undefined;
const connect = () => o.tls
  ? tls.connect({ host: '127.0.0.1', port: o.port, servername: o.host, secureContext, rejectUnauthorized: false })
  : net.connect(o.port, '127.0.0.1');
const request = `GET / HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`;
const sockets = [];
let open = 0;
let failed = 0;

function openOne() {
  return new Promise((resolve) => {
    const s = connect();
    let seen = '';
    let counted = false;
    s.setEncoding('latin1');
    s.once(o.tls ? 'secureConnect' : 'connect', () => s.write(request));
    s.on('data', (d) => {
      seen += d;
      // The backend's small body ends the response; after it the connection idles.
      if (!counted && seen.includes('hello world\n')) {
        counted = true;
        open++;
        resolve();
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (counted) open--;
      else { failed++; resolve(); }
    });
    sockets.push(s);
  });
}

let next = 0;
async function worker() {
  while (next < o.count) {
    next++;
    await openOne();
  }
}
await Promise.all(Array.from({ length: o.parallel }, worker));
process.send({ ready: true, opened: open, failed });
process.on('message', (m) => {
  if (m === 'report') process.send({ open });
  if (m === 'exit') {
    for (const s of sockets) s.destroy();
    process.exit(0);
  }
});
