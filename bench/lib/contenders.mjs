// The things being measured. Each contender starts on fresh loopback ports
// and reports which ports serve which scenario; a port of null means the
// contender has no such mode (http-proxy cannot pipe raw TCP).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { childPids, freePorts, hardNofile, start, stop, waitForPort, which } from './procs.mjs';

const here = fileURLToPath(new URL('..', import.meta.url));
const streamModule = '/usr/lib/nginx/modules/ngx_stream_module.so';

/**
 * ctx: { tmp, pin, domain, key, cert, pem, backend: { http, https }, nodeArgs? }
 * Every start() returns { ports: { http, tls, tcp, passthrough }, memPid(), stop() }.
 */
export const contenders = [
  {
    name: 'direct',
    jit: true,
    note: 'the backend itself, no proxy',
    available: () => ({ ok: true }),
    // Measured against the shared backend, except where a fresh process is wanted (memory).
    async start(ctx, { fresh = false } = {}) {
      if (!fresh) {
        const b = ctx.backend;
        return { ports: { http: b.http, tls: b.https, tcp: b.http, passthrough: b.https }, pids: [b.child.pid], memPid: () => b.child.pid, stop: async () => {} };
      }
      const b = await startBackend(ctx);
      return { ports: { http: b.http, tls: b.https, tcp: b.http, passthrough: b.https }, pids: [b.child.pid], memPid: () => b.child.pid, stop: () => stop(b.child) };
    },
  },
  {
    name: 'smartproxy',
    jit: true,
    note: 'this library (dist/), child process',
    available: () => (existsSync(join(here, '../dist/index.js')) ? { ok: true } : { ok: false, missing: 'missing (run npm run build)' }),
    // opts: { nodeArgs, ipc (control channel, see servers/control.mjs), backend (instead of ctx.backend) }
    async start(ctx, opts = {}) {
      const [httpPort, tlsPort, passthroughPort, tcpPort] = await freePorts(4);
      const backend = opts.backend ?? ctx.backend;
      const config = {
        backendPort: backend.http, backendTlsPort: backend.https,
        httpPort, tlsPort, passthroughPort, tcpPort, key: ctx.key, cert: ctx.cert, domain: ctx.domain,
      };
      const file = join(ctx.tmp, `smartproxy-${httpPort}.json`);
      writeFileSync(file, JSON.stringify(config));
      const child = start(ctx.pin.server, [process.execPath, ...(opts.nodeArgs ?? []), join(here, 'servers/smartproxy.mjs'), file], {
        cwd: ctx.tmp,
        env: { SMARTPROXY_LOG_LEVEL: 'warn', ...(ctx.dist ? { SMARTPROXY_DIST: ctx.dist.entry } : {}) },
        ...(opts.ipc ? { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] } : {}),
      });
      for (const p of [httpPort, tlsPort, passthroughPort, tcpPort]) await waitForPort(p, child);
      return {
        ports: { http: httpPort, tls: tlsPort, tcp: tcpPort, passthrough: passthroughPort }, pids: [child.pid, backend.child.pid],
        memPid: () => child.pid, stop: () => stop(child), child,
        command: `SMARTPROXY_LOG_LEVEL=warn node servers/smartproxy.mjs smartproxy.json   # ${JSON.stringify({ ...config, key: 'key.pem', cert: 'cert.pem' })}`,
      };
    },
  },
  {
    name: 'http-proxy',
    jit: true,
    note: 'http-proxy 1.18 + keep-alive http.Agent, child process',
    available: () =>
      existsSync(join(here, 'node_modules/http-proxy')) ? { ok: true } : { ok: false, missing: 'missing (cd bench && npm install)' },
    async start(ctx) {
      const [httpPort, httpsPort] = await freePorts(2);
      const file = join(ctx.tmp, `http-proxy-${httpPort}.json`);
      writeFileSync(file, JSON.stringify({ backendPort: ctx.backend.http, httpPort, httpsPort, key: ctx.key, cert: ctx.cert }));
      const child = start(ctx.pin.server, [process.execPath, join(here, 'servers/http-proxy.mjs'), file]);
      await waitForPort(httpPort, child);
      await waitForPort(httpsPort, child);
      return {
        ports: { http: httpPort, tls: httpsPort, tcp: null, passthrough: null }, pids: [child.pid, ctx.backend.child.pid],
        memPid: () => child.pid, stop: () => stop(child), command: 'node servers/http-proxy.mjs http-proxy.json   # { backendPort, httpPort, httpsPort, key, cert }',
      };
    },
  },
  {
    name: 'node-bare',
    jit: true,
    reference: true,
    note: 'reference: 20 lines of node:http (server + keep-alive agent + pipe), child process',
    available: () => ({ ok: true }),
    async start(ctx) {
      const [httpPort] = await freePorts(1);
      const child = start(ctx.pin.server, [process.execPath, join(here, 'servers/node-bare.mjs'), String(httpPort), String(ctx.backend.http)]);
      await waitForPort(httpPort, child);
      return {
        ports: { http: httpPort, tls: null, tcp: null, passthrough: null }, pids: [child.pid, ctx.backend.child.pid],
        memPid: () => child.pid, stop: () => stop(child), command: 'node servers/node-bare.mjs <port> <backendPort>',
      };
    },
  },
  {
    name: 'nginx',
    note: 'nginx-light, 1 worker, upstream keepalive 64',
    available: () => {
      if (!which('nginx')) return { ok: false, missing: 'missing (apt-get install -y nginx-light)' };
      return { ok: true, noStream: !existsSync(streamModule) };
    },
    async start(ctx) {
      const [http, tls, tcp, passthrough] = await freePorts(4);
      const dir = join(ctx.tmp, `nginx-${http}`);
      mkdirSync(dir, { recursive: true });
      const stream = existsSync(streamModule);
      const config = nginxConfig({ ...ctx, dir, http, tls, tcp, passthrough, stream });
      writeFileSync(join(dir, 'nginx.conf'), config);
      const child = start(ctx.pin.server, [which('nginx'), '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
      await waitForPort(http, child);
      await waitForPort(tls, child);
      if (stream) {
        await waitForPort(tcp, child);
        await waitForPort(passthrough, child);
      }
      // The worker holds the connections; the master only supervises.
      const memPid = () => childPids(child.pid)[0] ?? child.pid;
      return {
        ports: { http, tls, tcp: stream ? tcp : null, passthrough: stream ? passthrough : null }, pids: [child.pid, ctx.backend.child.pid],
        memPid, stop: () => stop(child), command: "nginx -p <dir> -c <dir>/nginx.conf -e <dir>/error.log -g 'daemon off;'", config,
      };
    },
  },
  {
    name: 'haproxy',
    note: 'haproxy, nbthread 1',
    // haproxy refuses to start unless 2 × maxconn fits under the hard FD limit, and it cannot raise that limit.
    maxConnections: () => Math.floor((hardNofile() - 100) / 2),
    available: () => (which('haproxy') ? { ok: true } : { ok: false, missing: 'missing (apt-get install -y haproxy)' }),
    async start(ctx) {
      const [http, tls, tcp, passthrough] = await freePorts(4);
      const file = join(ctx.tmp, `haproxy-${http}.cfg`);
      const config = haproxyConfig({ ...ctx, http, tls, tcp, passthrough, maxconn: Math.min(30_000, this.maxConnections()) });
      writeFileSync(file, config);
      const child = start(ctx.pin.server, [which('haproxy'), '-db', '-f', file]);
      for (const p of [http, tls, tcp, passthrough]) await waitForPort(p, child);
      return {
        ports: { http, tls, tcp, passthrough }, pids: [child.pid, ctx.backend.child.pid],
        memPid: () => child.pid, stop: () => stop(child), command: 'haproxy -db -f haproxy.cfg', config,
      };
    },
  },
];

/** Starts the origin server (HTTP and HTTPS) on CPU 0 with the proxies. */
export async function startBackend(ctx) {
  const [http, https] = await freePorts(2);
  const child = start(ctx.pin.server, [process.execPath, join(here, 'servers/backend.mjs'), String(http), String(https), ctx.key, ctx.cert]);
  await waitForPort(http, child);
  await waitForPort(https, child);
  return { http, https, child };
}

function nginxConfig(c) {
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  const b = c.backend;
  return `${c.stream ? `load_module ${streamModule};` : ''}
${user}
worker_processes 1;
worker_rlimit_nofile ${hardNofile()};
pid ${c.dir}/nginx.pid;
error_log ${c.dir}/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path ${c.dir}/client_body;
  proxy_temp_path ${c.dir}/proxy;
  fastcgi_temp_path ${c.dir}/fastcgi;
  uwsgi_temp_path ${c.dir}/uwsgi;
  scgi_temp_path ${c.dir}/scgi;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${b.http}; keepalive 64; keepalive_requests 1000000; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  # Stream big bodies through memory buffers instead of spooling them to disk.
  proxy_max_temp_file_size 0;
  # nginx 1.22 leaves TLS 1.3 off by default; every other contender negotiates it.
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  server { listen 127.0.0.1:${c.http}; location / { proxy_pass http://backend; } }
  server {
    listen 127.0.0.1:${c.tls} ssl;
    server_name ${c.domain};
    ssl_certificate ${c.cert};
    ssl_certificate_key ${c.key};
    location / { proxy_pass http://backend; }
  }
}
${c.stream ? `stream {
  server { listen 127.0.0.1:${c.tcp}; proxy_pass 127.0.0.1:${b.http}; }
  server { listen 127.0.0.1:${c.passthrough}; proxy_pass 127.0.0.1:${b.https}; }
}` : ''}
`;
}

function haproxyConfig(c) {
  const b = c.backend;
  return `global
  nbthread 1
  maxconn ${c.maxconn}
defaults
  mode http
  maxconn ${c.maxconn}
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
frontend fe_http
  bind 127.0.0.1:${c.http}
  default_backend be_http
frontend fe_tls
  bind 127.0.0.1:${c.tls} ssl crt ${c.pem}
  default_backend be_http
backend be_http
  option forwardfor
  server s1 127.0.0.1:${b.http}
frontend fe_tcp
  mode tcp
  bind 127.0.0.1:${c.tcp}
  default_backend be_tcp
backend be_tcp
  mode tcp
  server s1 127.0.0.1:${b.http}
frontend fe_passthrough
  mode tcp
  bind 127.0.0.1:${c.passthrough}
  default_backend be_passthrough
backend be_passthrough
  mode tcp
  server s1 127.0.0.1:${b.https}
`;
}
