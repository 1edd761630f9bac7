// The keys file of an API-key source (and each Secret's `keys.yaml`): hashed keys only. Parsed and
// validated whole: one bad entry rejects the whole document, so a typo never silently drops a key
// (or keeps one that was meant to be replaced). Every problem names its field; none quotes a value
// that could be key material (hashes are public, but the messages do not need them either).
import type { JWTPayload } from 'jose';
import { ConfigError, type ConfigProblem } from '../../config/problems.js';
import { parseDocumentText } from '../document-text.js';
import { sameCalendarDate } from '../calendar-date.js';

export interface ApiKeyEntry {
  /** Unique within the source; in audit records. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the whole key string. */
  readonly sha256: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly claims: Readonly<JWTPayload>;
  /** Epoch ms; undefined: never expires. */
  readonly expiresAt?: number;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** RFC 3339 date-time (full-date "T" full-time, with Z or an offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const ENTRY_FIELDS = new Set(['name', 'sha256', 'subject', 'scopes', 'roles', 'claims', 'expiresAt']);
/** Bounds that keep one document from costing unbounded memory or time. */
const MAX_KEYS = 100_000;
const MAX_TEXT = 256;
/** Claims an entry cannot set: the identity fields are derived from the source and the entry. */
const DERIVED_CLAIMS = new Set(['iss', 'sub', 'scope', 'scp']);

const isText = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT && !/[\u0000-\u001f\u007f]/.test(v);

function stringList(v: unknown, path: string, problems: ConfigProblem[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isText)) {
    problems.push({ path, message: `must be a list of non-empty strings (at most ${MAX_TEXT} characters, no control characters)` });
    return [];
  }
  return [...new Set(v)];
}

/**
 * YAML keys documents larger than this are refused: the YAML parser runs on the thread that answers
 * Checks and is slow on big documents (measured on a 2-core machine: 1,000 entries, 133 KiB, 458 ms;
 * 10,000 entries 1.3 s), while JSON (which is YAML too) parses about 60 times faster. A long key
 * list is written as JSON; `zt-authz apikey new` entries are the same objects either way.
 */
export const MAX_YAML_BYTES = 256 * 1024;

/**
 * The entries of a keys document (YAML or JSON text). Throws ConfigError listing every problem:
 * bad YAML, unknown fields, a duplicate `name`, a hash that is not 64 hex digits, two entries with
 * the same hash, an `expiresAt` that is not RFC 3339.
 */
export function parseKeysFile(text: string, origin: string): ApiKeyEntry[] {
  const raw = parseDocumentText(text, origin, {
    maxYamlBytes: MAX_YAML_BYTES,
    tooLarge: `YAML over ${MAX_YAML_BYTES} bytes is too slow to parse while serving; write a long key list as JSON`,
  });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(origin, [{ path: '', message: 'must be a mapping with a keys list' }]);
  const problems: ConfigProblem[] = [];
  for (const k of Object.keys(raw)) if (k !== 'keys') problems.push({ path: k, message: 'unknown field (check spelling)' });
  const list = (raw as { keys?: unknown }).keys;
  if (list === undefined || list === null) {
    if (problems.length) throw new ConfigError(origin, problems);
    return [];
  }
  if (!Array.isArray(list)) throw new ConfigError(origin, [...problems, { path: 'keys', message: 'must be a list' }]);
  if (list.length > MAX_KEYS) throw new ConfigError(origin, [{ path: 'keys', message: `more than ${MAX_KEYS} entries` }]);
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  const out: ApiKeyEntry[] = [];
  list.forEach((e: unknown, i) => {
    const at = `keys[${i}]`;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) {
      problems.push({ path: at, message: 'must be a mapping' });
      return;
    }
    const entry = e as Record<string, unknown>;
    for (const k of Object.keys(entry))
      if (!ENTRY_FIELDS.has(k)) problems.push({ path: `${at}.${k}`, message: 'unknown field (check spelling)' });
    const before = problems.length;
    const { name, sha256, subject, expiresAt, claims } = entry;
    if (!isText(name)) problems.push({ path: `${at}.name`, message: 'is required: a non-empty string' });
    else {
      const prev = names.get(name);
      if (prev !== undefined)
        problems.push({ path: `${at}.name`, message: `duplicate of keys[${prev}].name (names are unique within a source)` });
      names.set(name, i);
    }
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))
      problems.push({ path: `${at}.sha256`, message: 'must be 64 hex digits (the SHA-256 of the key)' });
    else {
      const prev = hashes.get(sha256.toLowerCase());
      if (prev !== undefined) problems.push({ path: `${at}.sha256`, message: `same hash as keys[${prev}]: one key cannot be two entries` });
      hashes.set(sha256.toLowerCase(), i);
    }
    if (!isText(subject)) problems.push({ path: `${at}.subject`, message: 'is required: a non-empty string without control characters' });
    const scopes = stringList(entry.scopes, `${at}.scopes`, problems);
    const roles = stringList(entry.roles, `${at}.roles`, problems);
    let expires: number | undefined;
    if (expiresAt !== undefined && expiresAt !== null) {
      const t = typeof expiresAt === 'string' && RFC3339.test(expiresAt) ? Date.parse(expiresAt) : NaN;
      if (Number.isNaN(t) || !sameCalendarDate(expiresAt as string, t))
        problems.push({ path: `${at}.expiresAt`, message: 'must be an RFC 3339 date-time, e.g. 2027-06-30T00:00:00Z' });
      else expires = t;
    }
    let claimSet: JWTPayload = {};
    if (claims !== undefined && claims !== null) {
      if (typeof claims !== 'object' || Array.isArray(claims)) problems.push({ path: `${at}.claims`, message: 'must be a mapping' });
      else {
        claimSet = claims as JWTPayload;
        for (const c of Object.keys(claimSet))
          if (DERIVED_CLAIMS.has(c))
            problems.push({ path: `${at}.claims.${c}`, message: 'is set from the entry (subject, scopes) and the source' });
      }
    }
    if (problems.length !== before) return;
    out.push({
      name: name as string,
      sha256: (sha256 as string).toLowerCase(),
      subject: subject as string,
      scopes,
      roles,
      claims: claimSet,
      ...(expires !== undefined ? { expiresAt: expires } : {}),
    });
  });
  if (problems.length) throw new ConfigError(origin, problems);
  return out;
}
