// Censoring credential-named keys at any depth of what the operational logger is given, before
// pino serializes it. pino's own redaction cannot do this: its paths have no "any depth" wildcard
// (one `*` is one level), keys match by exact case, and every wildcard path is expensive, because
// @pinojs/redact clones and walks the value of every top-level key once per path on every line
// (numbers next to createLogger in log.ts). This walks the logged object once, copies only the
// objects on the way to a censored key (the caller's object is never modified), and returns the
// input itself when nothing matches, which is what almost every line does.

/** Returns its argument, or a copy of it with the values of credential-named keys replaced. */
export type Censor = <T>(value: T) => T;

/** Objects nested deeper than this are not inspected, so not written either (fail closed). */
export const MAX_CENSOR_DEPTH = 64;
/** Keys and containers visited per line; past it the rest is replaced, not written unread. */
export const MAX_CENSOR_NODES = 20_000;

export const TOO_DEEP = '[not logged: nested too deep to inspect]';
export const TOO_LARGE = '[not logged: too large to inspect]';
/** What pino's safe stringify writes for a reference back to an ancestor. */
const CIRCULAR = '[Circular]';

interface Walk {
  nodes: number;
  /** Containers on the path from the root to the one being visited (cycle detection). */
  path: Set<object>;
}

/**
 * A function that returns `value` with the value of every key whose lower-cased name is one of
 * `keys` replaced by `censor`, in plain objects, class instances, arrays and Error objects (their
 * own enumerable properties, `cause` and an AggregateError's `errors`), at any depth. Left as they
 * are: primitives, Buffers and typed arrays, and objects that serialize themselves (`toJSON`:
 * Date, URL...), Maps and Sets (JSON writes them as `{}`).
 */
export function keyCensor(keys: readonly string[], censor: string): Censor {
  const names = new Set(keys.map((k) => k.toLowerCase()));

  const visit = (v: unknown, depth: number, w: Walk): unknown => {
    if (typeof v !== 'object' || v === null || !inspectable(v)) return v;
    if (w.path.has(v)) return CIRCULAR;
    if (depth > MAX_CENSOR_DEPTH) return TOO_DEEP;
    if (++w.nodes > MAX_CENSOR_NODES) return TOO_LARGE;
    w.path.add(v);
    try {
      if (Array.isArray(v)) {
        let out: unknown[] | undefined;
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          const next = visit(item, depth + 1, w);
          if (next !== item) (out ??= v.slice())[i] = next;
        }
        return out ?? v;
      }
      const obj = v as Record<string, unknown>;
      let changes: Map<string, unknown> | undefined;
      for (const k of Object.keys(obj)) {
        // Keys count towards the budget; past it, visit() replaces containers (only they can
        // hide a credential-named key) while scalars are still written.
        w.nodes++;
        const value = obj[k];
        if (value === undefined) continue;
        const next = names.has(k.toLowerCase()) ? censor : visit(value, depth + 1, w);
        if (next !== value) (changes ??= new Map()).set(k, next);
      }
      if (v instanceof Error) return censorError(v, changes, (x) => visit(x, depth + 1, w));
      return changes ? copyWith(obj, changes) : v;
    } finally {
      w.path.delete(v);
    }
  };

  return <T>(value: T): T => visit(value, 0, { nodes: 0, path: new Set() }) as T;
}

function inspectable(v: object): boolean {
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Map || v instanceof Set) return false;
  return typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** A plain object with the same own enumerable keys, in the same order, some values replaced. */
function copyWith(obj: Record<string, unknown>, changes: Map<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) setOwn(out, k, changes.has(k) ? changes.get(k) : obj[k]);
  return out;
}

/**
 * An Error stays an Error (same prototype, message, stack, name) so pino's `err` serializer still
 * writes its type, message and stack; `cause` and `errors`, which the serializer also writes, are
 * inspected too. The original is returned when nothing in it was censored.
 */
function censorError(err: Error, changes: Map<string, unknown> | undefined, visit: (x: unknown) => unknown): Error {
  const own = err as Error & { cause?: unknown; errors?: unknown };
  const hidden = new Map<string, unknown>();
  for (const k of ['cause', 'errors'] as const)
    if (Object.prototype.hasOwnProperty.call(err, k) && !Object.prototype.propertyIsEnumerable.call(err, k)) {
      const next = visit(own[k]);
      if (next !== own[k]) hidden.set(k, next);
    }
  if (!changes && hidden.size === 0) return err;
  const out = Object.create(Object.getPrototypeOf(err) as object | null) as Error;
  for (const k of Object.getOwnPropertyNames(err)) {
    const d = Object.getOwnPropertyDescriptor(err, k)!;
    const replaced = changes?.has(k) ? { has: true, v: changes.get(k) } : hidden.has(k) ? { has: true, v: hidden.get(k) } : undefined;
    // Node 24's `stack` is an accessor that reads the original error's internal slot: copied as a
    // descriptor it yields '' on the copy, so an accessor is copied as the value it gives now.
    const accessor = 'get' in d || 'set' in d;
    if (!replaced && !accessor) Object.defineProperty(out, k, d);
    else {
      const value = replaced ? replaced.v : (own as unknown as Record<string, unknown>)[k];
      Object.defineProperty(out, k, { value, enumerable: d.enumerable, writable: true, configurable: true });
    }
  }
  return out;
}

/** Assignment, except for `__proto__`, which must become an own key rather than the prototype. */
function setOwn(o: Record<string, unknown>, k: string, value: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  else o[k] = value;
}
