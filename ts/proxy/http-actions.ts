import type { Route } from '../routing/route.js';
import type { ProxyContext } from './context.js';
import { sendStatus, type ActionRequest, type ActionResponse } from './http-responses.js';
import { expandTemplate } from './templates.js';

/** Answers a redirect route: Location from the template, default 301. */
export function sendRedirect(route: Route, req: ActionRequest, res: ActionResponse, domain: string, port: number): void {
  const redirect = route.action.redirect!;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const location = expandTemplate(redirect.to, {
    domain,
    path: q === -1 ? url : url.slice(0, q),
    port,
    query: q === -1 ? '' : url.slice(q + 1),
  });
  res.writeHead(redirect.status ?? 301, { location, 'content-length': 0 });
  res.end();
}

/** Answers a static route with its configured status, headers and body. */
export function sendStatic(route: Route, res: ActionResponse): void {
  const response = route.action.static!;
  const body = response.body ?? '';
  const headers: Record<string, string | number> = { ...response.headers };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(response.status ?? 200, headers);
  res.end(body);
}

export function sendBlocked(res: ActionResponse): void {
  sendStatus(res, 403, 'blocked by route');
}

/** Answers a metrics route with the Prometheus text exposition of the proxy's counters. */
export function sendMetrics(ctx: ProxyContext, req: ActionRequest, res: ActionResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendStatus(res, 405, 'use GET');
  const body = ctx.renderMetrics();
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}
