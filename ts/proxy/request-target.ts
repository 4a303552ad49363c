/**
 * How a request-target is read for routing. Path routes guard prefixes
 * (block '/admin/*'), so they are matched on the path as an upstream will
 * resolve it, not on one spelling of it: upstreams read the path of an
 * absolute-form target, static file servers resolve dot segments, and
 * most decode %XX. The URL forwarded upstream is left as the client sent
 * it (only absolute-form becomes origin-form), as nginx does.
 */
export interface RequestTarget {
  /** Path to match routes on: no query, dot segments resolved, slashes merged, unreserved %XX decoded. */
  readonly path: string;
  /** The target in origin-form when the client sent absolute-form; undefined when it already was. */
  readonly originForm: string | undefined;
  /** The authority of an absolute-form target (`host[:port]`). */
  readonly authority: string | undefined;
}

const absoluteForm = /^(?:https?|wss?):\/\/([^/?#]*)(.*)$/is;

/** Reads `req.url`; undefined when it is neither origin-form, absolute-form nor `*` (answer 400). */
export function readRequestTarget(url: string): RequestTarget | undefined {
  if (url.charCodeAt(0) === 47 /* / */) return { path: matchPath(url), originForm: undefined, authority: undefined };
  if (url === '*') return { path: '*', originForm: undefined, authority: undefined };
  const parts = absoluteForm.exec(url);
  if (parts === null) return undefined;
  const authority = parts[1]!;
  // userinfo in a request-target is forbidden (RFC 9110 §4.2.4) and only ever used to confuse parsers.
  if (authority.length === 0 || authority.includes('@')) return undefined;
  const rest = parts[2]!;
  const originForm = rest.length === 0 || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest;
  return { path: matchPath(originForm), originForm, authority };
}

function matchPath(url: string): string {
  let end = url.length;
  const query = url.indexOf('?');
  if (query !== -1) end = query;
  const fragment = url.indexOf('#');
  if (fragment !== -1 && fragment < end) end = fragment;
  const path = end === url.length ? url : url.slice(0, end);
  // Fast path: nothing to resolve in the common case.
  if (!path.includes('%') && !path.includes('/.') && !path.includes('//')) return path;
  return removeDotSegments(decodeUnreserved(path));
}

/** Decodes %XX only where XX is an unreserved character (RFC 3986 §2.3): the decoding never changes the path's structure. */
function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9a-fA-F]{2})/g, (match, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : match;
  });
}

/** RFC 3986 §5.2.4 on a path starting with '/', also merging empty segments ('//'). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const last = segments.length - 1;
  const out: string[] = [];
  for (let i = 1; i <= last; i++) {
    const segment = segments[i]!;
    // A path ending in '/', '/.' or '/..' names a directory: it keeps its trailing slash.
    const atEnd = i === last;
    if (segment === '..') {
      out.pop();
      if (atEnd) out.push('');
    } else if (segment === '.' || segment === '') {
      if (atEnd) out.push('');
    } else {
      out.push(segment);
    }
  }
  return '/' + out.join('/');
}
