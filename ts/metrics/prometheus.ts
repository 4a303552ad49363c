import type { IMetrics, ITrafficCounters } from './metrics.js';

/**
 * Renders metrics in the Prometheus text exposition format (version 0.0.4).
 * Only counters and gauges are exported: rates are for Prometheus to compute
 * from the counters (rate()), never averaged here.
 */
export function renderPrometheus(metrics: IMetrics): string {
  const lines: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const sample = (name: string, labels: Record<string, string>, value: number) => {
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    lines.push(`${name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  };
  const traffic = (prefix: string, what: string, scopes: [Record<string, string>, ITrafficCounters][]) => {
    family(`${prefix}_connections_active`, 'gauge', `Open client connections ${what}.`);
    for (const [labels, c] of scopes) sample(`${prefix}_connections_active`, labels, c.activeConnections);
    family(`${prefix}_connections_total`, 'counter', `Client connections accepted ${what}.`);
    for (const [labels, c] of scopes) sample(`${prefix}_connections_total`, labels, c.totalConnections);
    family(`${prefix}_requests_total`, 'counter', `HTTP requests answered ${what}.`);
    for (const [labels, c] of scopes) sample(`${prefix}_requests_total`, labels, c.requests);
    family(`${prefix}_received_bytes_total`, 'counter', `Bytes received from clients ${what}.`);
    for (const [labels, c] of scopes) sample(`${prefix}_received_bytes_total`, labels, c.bytesIn);
    family(`${prefix}_sent_bytes_total`, 'counter', `Bytes sent to clients ${what}.`);
    for (const [labels, c] of scopes) sample(`${prefix}_sent_bytes_total`, labels, c.bytesOut);
  };
  traffic('smartproxy', 'in total', [[{}, metrics]]);
  traffic('smartproxy_route', 'per route', Object.entries(metrics.routes).map(([route, c]) => [{ route }, c]));
  traffic('smartproxy_port', 'per port', Object.entries(metrics.ports).map(([port, c]) => [{ port }, c]));
  family('smartproxy_port_routes', 'gauge', 'Routes using the port (the listener reference count).');
  for (const [port, c] of Object.entries(metrics.ports)) sample('smartproxy_port_routes', { port }, c.refCount);
  family('smartproxy_port_proxy_answers_total', 'counter', 'Requests the proxy answered itself (no route, refused, over a limit), by status.');
  for (const [port, c] of Object.entries(metrics.ports)) {
    for (const [status, count] of Object.entries(c.answeredByProxy)) sample('smartproxy_port_proxy_answers_total', { port, status }, count);
  }
  family('smartproxy_certificate_expiry_timestamp_seconds', 'gauge', 'When each certificate expires, as a Unix timestamp.');
  for (const cert of metrics.certificates) {
    if (cert.expiryDate !== undefined) sample('smartproxy_certificate_expiry_timestamp_seconds', { domain: cert.domain, source: cert.source }, Math.floor(cert.expiryDate.getTime() / 1000));
  }
  family('smartproxy_limit_hits_total', 'counter', 'Clients turned away by a limit.');
  for (const [limit, hits] of Object.entries(metrics.limitHits)) sample('smartproxy_limit_hits_total', { limit }, hits);
  family('smartproxy_uptime_seconds', 'gauge', 'Seconds since the proxy was created.');
  sample('smartproxy_uptime_seconds', {}, metrics.uptimeSeconds);
  return lines.join('\n') + '\n';
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
