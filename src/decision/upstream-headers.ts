// What an allow does to the upstream request: identity headers set, the credential stripped (a
// header or query parameter removed, a cookie cut out of `cookie`). These build the arrays of a
// DecisionResponse before the Decision exists; nothing changes them afterwards.
import type { CheckInput, CredentialLocation, Identity } from './types.js';
import type { Snapshot } from './snapshot.js';
import { isSafeFieldValue, isSafeHeaderValue } from '../authn/claims.js';

export type HeaderList = Array<[string, string]>;

export function addIdentityHeaders(out: HeaderList, snap: Pick<Snapshot, 'config'>, id: Identity): void {
  const r = snap.config.response;
  if (isSafeHeaderValue(id.subject)) out.push([r.subjectHeader, id.subject]);
  if (isSafeHeaderValue(id.issuer)) out.push([r.issuerHeader, id.issuer]);
  const scopes = id.scopes.join(' ');
  if (isSafeHeaderValue(scopes)) out.push([r.scopesHeader, scopes]);
}

export function stripCredential(
  input: CheckInput,
  loc: CredentialLocation,
  set: HeaderList,
  remove: string[],
  removeParams: string[],
): void {
  if (loc.type === 'header') {
    // A header zt-authz sets (the internal token in the credential's own header) is overwritten
    // with the new value; removing it too would drop it, since Envoy removes after it sets.
    if (!remove.includes(loc.name) && !set.some(([n]) => n === loc.name)) remove.push(loc.name);
  } else if (loc.type === 'param') {
    if (!removeParams.includes(loc.name)) removeParams.push(loc.name);
  } else {
    stripCookie(input, loc.name, set, remove);
  }
}

/** ext_authz can only replace whole headers: rewrite `cookie` without the credential cookie. */
function stripCookie(input: CheckInput, name: string, set: HeaderList, remove: string[]): void {
  if (remove.includes('cookie')) return; // already dropped whole
  // A second credential cookie (observe mode, token_multiple): strip it from the rewrite.
  const i = set.findIndex(([n]) => n === 'cookie');
  const current = i < 0 ? (input.headers.cookie ?? '') : set.splice(i, 1)[0]![1];
  // Found the way extractCredential finds it (split on ";" and ","), so every copy goes; other
  // cookies keep their exact text (a non-conforming comma inside their value stays).
  const rest: string[] = [];
  for (const part of current.split(';')) {
    const kept = part
      .split(',')
      .filter((c) => c.indexOf('=') < 0 || c.slice(0, c.indexOf('=')).trim() !== name)
      .join(',')
      .trim();
    if (kept) rest.push(kept);
  }
  const value = rest.join('; ');
  // The rewritten header carries the client's other cookies back to Envoy: a control character
  // or lone surrogate in them must not be re-emitted (header injection, invalid UTF-8 on the
  // wire). Drop the whole header then; the credential cookie must go either way.
  if (rest.length && isSafeFieldValue(value)) set.push(['cookie', value]);
  else remove.push('cookie');
}

/** Client-sent copies of every identity header zt-authz did not set itself are stripped on allow. */
export function identityHeadersToRemove(
  snap: Pick<Snapshot, 'identityHeaderNames'>,
  set: HeaderList,
  already: readonly string[],
): string[] {
  const names = new Set(set.map(([n]) => n));
  return snap.identityHeaderNames.filter((n) => !names.has(n) && !already.includes(n));
}
