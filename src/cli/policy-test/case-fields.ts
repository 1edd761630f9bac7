// Checks shared by the case-file parsers (cases.ts, expect.ts): each throws a CaseFileError that
// names where in the file the value is.
import { InvalidArgumentError } from '../../errors.js';

/** A case file that cannot be read or is not a valid case file; names the file (and the case). */
export class CaseFileError extends InvalidArgumentError {}

export function mapping(v: unknown, where: string, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CaseFileError(`${where}: ${what} must be a mapping`);
  return v as Record<string, unknown>;
}

export function unknownKeys(o: Record<string, unknown>, known: Set<string>, where: string, what: string): void {
  const bad = Object.keys(o).filter((k) => !known.has(k));
  if (bad.length)
    throw new CaseFileError(
      `${where}: unknown key${bad.length > 1 ? 's' : ''} in ${what}: ${bad.join(', ')} (known: ${[...known].join(', ')})`,
    );
}

export function optString(v: unknown, where: string, key: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CaseFileError(`${where}: ${key} must be a string`);
  return v;
}

/** A string or a list of strings. */
export function stringList(v: unknown, where: string, key: string): string[] {
  const list: unknown = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s): s is string => typeof s === 'string'))
    throw new CaseFileError(`${where}: ${key} must be a string or a list of strings`);
  return list;
}
