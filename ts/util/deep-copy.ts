/**
 * Copies plain route data (objects, arrays, primitives), keeping functions
 * by reference, and freezes the copy, so a caller editing its route objects
 * after updateRoutes() cannot change the live table behind the proxy's back.
 */
export function frozenCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = frozenCopy(item);
  return Object.freeze(copy) as T;
}
