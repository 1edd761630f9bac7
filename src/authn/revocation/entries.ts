// Revocation entries: the file layout (`entries:`) and the TokenRevocation resource's spec share
// this one shape, and this one validator, so a file and the cluster can never disagree on what an
// entry means. Three forms, told apart by their fields:
//   { issuer, jti, expiresAt? }                   one token
//   { issuer, subject, notBefore, expiresAt? }    every token of the subject with iat before notBefore
//   { apiKey: <sha256 hex>, expiresAt? }          one API key, by the hash the keys file holds
// Times are RFC 3339 with a zone. Validation only: nothing here logs, and no message repeats a
// value that could be a credential (an apiKey hash is cut to a 12-digit prefix).
import type { ConfigProblem } from '../../config/problems.js';
import { sameCalendarDate } from '../calendar-date.js';

export type RevocationEntry =
  | { readonly kind: 'jti'; readonly issuer: string; readonly jti: string; readonly expiresAt?: number }
  | { readonly kind: 'subject'; readonly issuer: string; readonly subject: string; readonly notBefore: number; readonly expiresAt?: number }
  | { readonly kind: 'apiKey'; readonly sha256: string; readonly expiresAt?: number };

/** Upper bounds that keep one entry, and so one list, cheap: any real jti, sub or iss fits. */
export const MAX_FIELD_CHARS = 1024;
/** Entries one revocation file may hold; a mass revocation is one `notBefore` entry per subject, or a key rotation. */
export const MAX_FILE_ENTRIES = 100_000;

// RFC 3339 date-time with a mandatory zone (Z or ±hh:mm); Date.parse alone accepts far more
// (local times, "2026-12-08"), and a zone-less time would be read in the server's zone.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const FIELDS = new Set(['issuer', 'jti', 'subject', 'notBefore', 'expiresAt', 'apiKey']);

/** Milliseconds since the epoch for an RFC 3339 time, or a problem message. */
export function parseTime(value: unknown): number | string {
  // A YAML parser with the 1.1 timestamp type (not ours, but a caller's) hands over a Date.
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'is not a valid time' : value.getTime();
  if (typeof value !== 'string') return 'must be an RFC 3339 time, e.g. 2026-12-08T10:00:00Z';
  if (!RFC3339.test(value)) return `must be an RFC 3339 time with a zone, e.g. 2026-12-08T10:00:00Z (got ${quote(value)})`;
  const ms = Date.parse(value.replace(' ', 'T'));
  // Date.parse rolls 2026-02-30 over to March; a time that does not read back is refused.
  if (Number.isNaN(ms) || !sameCalendarDate(value, ms)) return `is not a valid time (${quote(value)})`;
  return ms;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** One entry, or the problems with it (paths relative to `at`). */
export function parseEntry(raw: unknown, at: string): { entry: RevocationEntry } | { problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const p = (field: string, message: string): void => void problems.push({ path: field ? `${at}.${field}` : at, message });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ path: at, message: 'must be an object: {issuer, jti}, {issuer, subject, notBefore} or {apiKey}' }] };
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) p(k, 'unknown field (allowed: issuer, jti, subject, notBefore, expiresAt, apiKey)');
  const str = (field: string): string | undefined => {
    const v = o[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') return void p(field, 'must be a non-empty string');
    if (v.length > MAX_FIELD_CHARS) return void p(field, `is longer than ${MAX_FIELD_CHARS} characters`);
    return v;
  };
  const time = (field: string): number | undefined => {
    if (o[field] === undefined) return undefined;
    const t = parseTime(o[field]);
    if (typeof t === 'string') return void p(field, t);
    return t;
  };
  const issuer = str('issuer');
  const jti = str('jti');
  const subject = str('subject');
  const expiresAt = time('expiresAt');
  const notBefore = time('notBefore');
  const apiKey = o.apiKey;
  const forms = [jti !== undefined || o.jti !== undefined, subject !== undefined || o.subject !== undefined, apiKey !== undefined].filter(
    Boolean,
  ).length;
  if (forms !== 1) {
    p('', 'must name exactly one of jti (one token), subject (with notBefore) or apiKey');
    return { problems };
  }
  const exp = expiresAt !== undefined ? { expiresAt } : {};
  if (apiKey !== undefined) {
    if (typeof apiKey !== 'string' || !SHA256_HEX.test(apiKey)) p('apiKey', 'must be the 64-digit hex SHA-256 of the whole key string');
    if (o.issuer !== undefined || o.notBefore !== undefined) p('', 'an apiKey entry takes only expiresAt besides apiKey');
    if (problems.length) return { problems };
    return { entry: { kind: 'apiKey', sha256: (apiKey as string).toLowerCase(), ...exp } };
  }
  if (o.issuer === undefined) p('issuer', 'is required with jti or subject');
  if (o.subject !== undefined && o.notBefore === undefined)
    p('notBefore', 'is required with subject (tokens issued before it are revoked)');
  if (o.jti !== undefined && o.notBefore !== undefined) p('notBefore', 'goes with subject, not jti');
  if (problems.length) return { problems };
  if (jti !== undefined) return { entry: { kind: 'jti', issuer: issuer!, jti, ...exp } };
  return { entry: { kind: 'subject', issuer: issuer!, subject: subject!, notBefore: notBefore!, ...exp } };
}

/** The file layout: `{ entries: [...] }` (an empty file or `entries: []` is an empty list). */
export function parseRevocationDocument(doc: unknown): { entries: RevocationEntry[] } | { problems: ConfigProblem[] } {
  if (doc === null || doc === undefined) return { entries: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) return { problems: [{ path: '', message: 'must be a map with an entries list' }] };
  const o = doc as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  for (const k of Object.keys(o)) if (k !== 'entries') problems.push({ path: k, message: 'unknown field (allowed: entries)' });
  const list = o.entries ?? [];
  if (!Array.isArray(list)) return { problems: [...problems, { path: 'entries', message: 'must be a list' }] };
  if (list.length > MAX_FILE_ENTRIES) {
    return {
      problems: [
        ...problems,
        {
          path: 'entries',
          message: `has ${list.length} entries, more than ${MAX_FILE_ENTRIES}; revoke whole subjects with notBefore instead`,
        },
      ],
    };
  }
  const entries: RevocationEntry[] = [];
  list.forEach((raw, i) => {
    const r = parseEntry(raw, `entries[${i}]`);
    // Every problem is reported, capped so a wholly wrong huge file does not make a huge log line.
    if ('problems' in r) problems.push(...r.problems.slice(0, Math.max(0, 50 - problems.length)));
    else entries.push(r.entry);
  });
  return problems.length ? { problems } : { entries };
}

/** A short, safe label for logs: never the whole API-key hash. */
export function describeEntry(e: RevocationEntry): Record<string, string> {
  if (e.kind === 'apiKey') return { apiKey: `${e.sha256.slice(0, 12)}…` };
  return e.kind === 'jti' ? { issuer: e.issuer, jti: e.jti.slice(0, 64) } : { issuer: e.issuer, subject: e.subject.slice(0, 64) };
}
