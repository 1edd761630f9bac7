// The audit line written straight to the audit stream, without pino's per-call work.
//
// Every allow writes a record by default, and profiling maximum throughput with a cached token
// (bench/run.ts --scenario 1 --profile) put the pino call at 6-9 % of the server's CPU: the redact
// wrapper, the per-key serializer loop and a fresh ISO time string per line. An audit record
// never has a key the redact paths name (its fields are fixed, see audit-record.ts), so the
// redaction only cost time. This writes the byte-identical line pino's audit logger
// (log.ts createAuditLogger) would write for the same record:
//
//   {"level":"info","time":"<ISO 8601>","logger":"audit",<fields>}\n
//
// with pino's rules for the fields: in insertion order, `undefined` members left out, top-level
// strings through pino's own escaper (asString below, which differs from JSON.stringify for
// lone surrogates), numbers that are not finite as null, objects through JSON.stringify.
// test/unit/observe/audit-line.test.ts compares both writers on many records.

const PREFIX = '{"level":"info","time":"';
const BINDINGS = '","logger":"audit"';

let lastMs = -1;
let lastIso = '';

/** `new Date(now).toISOString()`, computed once per millisecond (several lines share one). */
function isoTime(now: number): string {
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** The JSON line for `rec` as createAuditLogger's pino logger writes it, at time `now` (ms). */
export function auditLine(rec: object, now: number = Date.now()): string {
  let out = PREFIX + isoTime(now) + BINDINGS;
  const r = rec as Record<string, unknown>;
  for (const key in r) {
    if (!Object.prototype.hasOwnProperty.call(r, key)) continue;
    const value = r[key];
    let s: string | undefined;
    switch (typeof value) {
      case 'undefined':
      case 'function':
      case 'symbol':
        continue;
      case 'number':
        s = Number.isFinite(value) ? String(value) : 'null';
        break;
      case 'boolean':
        s = value ? 'true' : 'false';
        break;
      case 'string':
        s = asString(value);
        break;
      default:
        // Objects (and null). JSON.stringify gives undefined for a symbol-like value: left out, as pino does.
        s = JSON.stringify(value);
    }
    if (s === undefined) continue;
    out += ',' + asString(key) + ':' + s;
  }
  return out + '}\n';
}

/**
 * pino's string escaper (pino/lib/tools.js asString): strings over 100 characters, and those with
 * a control character, go through JSON.stringify; others only get `"` and `\` escaped (so a lone
 * surrogate stays as it is, where JSON.stringify would write \udXXX).
 */
export function asString(str: string): string {
  const l = str.length;
  if (l > 100) return JSON.stringify(str);
  let result = '';
  let last = 0;
  let found = false;
  let point = 255;
  for (let i = 0; i < l && point >= 32; i++) {
    point = str.charCodeAt(i);
    if (point === 34 || point === 92) {
      result += str.slice(last, i) + '\\';
      last = i;
      found = true;
    }
  }
  if (!found) result = str;
  else result += str.slice(last);
  return point < 32 ? JSON.stringify(str) : '"' + result + '"';
}
