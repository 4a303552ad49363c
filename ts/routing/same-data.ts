/**
 * Whether `value` (a caller's route, read now) holds exactly the data of
 * `copy` (a route captured earlier: parsed JSON, plus its socket handler),
 * so that capturing `value` again would give an equal copy. Reading a route
 * this way allocates nothing, where JSON.stringify builds a string per route:
 * on an update that leaves most of ten thousand routes alone, that string
 * building (and collecting it afterwards) was most of the cost.
 *
 * Errs towards "different", which only costs a JSON capture: anything JSON
 * would transform (toJSON, class instances, undefined or functions in
 * arrays, NaN) compares different from the parsed copy. Functions compare
 * by identity, which is how a socket handler is told apart. Key order is
 * ignored: it carries no meaning in a route. Recursion follows `copy`, a
 * finite tree, so a cyclic `value` ends as "different". May throw where a
 * getter throws; the caller then captures the route the ordinary way.
 */
export function sameData(value: unknown, copy: unknown): boolean {
  if (value === copy) return true;
  if (typeof value !== 'object' || value === null || typeof copy !== 'object' || copy === null) return false;
  if (Array.isArray(value)) return Array.isArray(copy) && sameItems(value, copy);
  if (Array.isArray(copy)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return sameFields(value as Record<string, unknown>, copy as Record<string, unknown>);
}

function sameItems(value: readonly unknown[], copy: readonly unknown[]): boolean {
  if (value.length !== copy.length) return false;
  for (let i = 0; i < value.length; i++) if (!sameData(value[i], copy[i])) return false;
  return true;
}

function sameFields(value: Record<string, unknown>, copy: Record<string, unknown>): boolean {
  // for-in, not Object.keys: nothing is allocated per object, which is the point of this walk.
  let fields = 0;
  for (const key in value) {
    const item = value[key];
    // JSON leaves out undefined fields; the copy has none.
    if (item === undefined) continue;
    const other = copy[key];
    if (other === undefined || !sameData(item, other)) return false;
    // The copy's own field, not one it inherits (toString, __proto__): those are all objects or functions.
    if (typeof other === 'object' || typeof other === 'function') {
      if (!Object.hasOwn(copy, key)) return false;
    }
    fields++;
  }
  // Both counts include any enumerable field on Object.prototype, so they stay comparable.
  let copyFields = 0;
  for (const key in copy) copyFields++;
  return fields === copyFields;
}
