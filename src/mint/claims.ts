// What a minted internal token says: the claims copied from the verified credential, and the
// checks that keep a copied value from producing an invalid or oversized token.
import type { Identity } from '../decision/types.js';

/** Copied claim values are JSON: nested at most this deep (a token is no place for deep trees). */
const MAX_DEPTH = 16;

/** Why a copied claim cannot go into the token, or undefined when it can. */
export function claimValueProblem(value: unknown, depth = 0): string | undefined {
  if (depth > MAX_DEPTH) return 'nested too deeply';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'not a finite number';
  if (Array.isArray(value)) {
    for (const v of value) {
      const p = claimValueProblem(v, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value === 'object') {
    // Only plain JSON objects: a Date, Map or class instance would serialise to something else.
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return 'not a JSON value';
    for (const v of Object.values(value)) {
      const p = claimValueProblem(v, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  return 'not a JSON value';
}

/**
 * The listed claims the identity carries, as they go into the token. `scope` is the identity's
 * scopes (scope and scp, after splitting) as one space-separated string (RFC 8693 §4.2,
 * RFC 9068 §2.2.3); every other claim is copied as the credential holds it. Absent claims are
 * left out. Throws nothing: a value that cannot be copied is reported in `problem`.
 */
export function copiedClaims(identity: Identity, names: readonly string[]): { claims: Record<string, unknown>; problem?: string } {
  const claims: Record<string, unknown> = {};
  for (const name of names) {
    if (name === 'scope') {
      if (identity.scopes.length) claims.scope = identity.scopes.join(' ');
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(identity.claims, name)) continue;
    const value = identity.claims[name];
    if (value === undefined) continue;
    const problem = claimValueProblem(value);
    if (problem) return { claims, problem: `claim ${name} cannot be copied: ${problem}` };
    claims[name] = value;
  }
  return { claims };
}
