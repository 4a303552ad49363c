// New TLS connections as fast as `concurrency` loops can make them: each one
// does a full (or resumed) handshake, sends one `Connection: close` request,
// reads the answer to the end and closes. Prints one JSON line.
// Usage: node tls-handshakes.mjs '<json>'
// json: { port, servername, ca, concurrency, ms, resume }
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const o = JSON.parse(process.argv[2]);
// One context for every connection: building one per tls.connect() (root store, CA parse) would make the client the bottleneck.
const secureContext = tls.createSecureContext({ ca: readFileSync(o.ca) });
const request = `GET / HTTP/1.1\r\nHost: ${o.servername}\r\nConnection: close\r\n\r\n`;
const deadline = performance.now() + o.ms;
let done = 0;
let reused = 0;
let errors = 0;
let lastEnd = 0;
let protocol = '';
let cipher = '';
const started = performance.now();
const cpu0 = process.cpuUsage();

function once(state) {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1', port: o.port, servername: o.servername, secureContext,
      // Resumption off: never offer a session, so every handshake is a full one.
      session: o.resume ? state.session : undefined,
    });
    socket.setNoDelay(true);
    let ok = false;
    let body = '';
    socket.on('session', (s) => { if (o.resume) state.session = s; });
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) reused++;
      protocol = socket.getProtocol();
      cipher = socket.getCipher().name;
      socket.write(request);
    });
    socket.setEncoding('latin1');
    socket.on('data', (d) => { body += d; if (body.startsWith('HTTP/1.1 200')) ok = true; });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (ok) done++;
      else errors++;
      lastEnd = performance.now();
      resolve();
    });
  });
}

async function loop() {
  const state = { session: undefined };
  while (performance.now() < deadline) await once(state);
}

await Promise.all(Array.from({ length: o.concurrency }, loop));
const seconds = (lastEnd - started) / 1000;
const cpu = process.cpuUsage(cpu0);
// Near 100 % means this client, not the server, limited the rate.
const clientCpu = (cpu.user + cpu.system) / 1e4 / seconds;
console.log(JSON.stringify({ rate: done / seconds, done, reused, errors, seconds, clientCpu, protocol, cipher }));
