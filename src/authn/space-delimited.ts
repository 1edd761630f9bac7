// Istio's RequestAuthentication `spaceDelimitedClaims` (always with `scope` and `permission`):
// Envoy's jwt_authn hands policies such a top-level claim, when its value is a string, as the
// list of its space-separated parts ("read write" → ["read", "write"]; empty parts dropped), so
// `request.auth.claims[permission]` values match one permission, never the whole string. Lists,
// objects and nested claims are left as they are, as Envoy leaves them.
import type { JWTPayload } from 'jose';

/** The claims with the listed string claims split; `claims` itself when none applies (never mutated). */
export function splitSpaceDelimited(claims: JWTPayload, names: readonly string[]): JWTPayload {
  let out: JWTPayload | undefined;
  for (const name of names) {
    const v = claims[name];
    if (typeof v !== 'string' || !Object.hasOwn(claims, name)) continue;
    out ??= { ...claims };
    out[name] = v.split(' ').filter((s) => s !== '');
  }
  return out ?? claims;
}
