// The signing keys `zt-authz check` mints the internal token with, so a configuration with
// response.internalToken on gets the decision serve would give, not internal_token_unavailable
// for want of a key:
//  - keysDir: read as serve reads it at start (mint/keys/sources.ts), and any problem is an error
//    there too (serve would not start); the key ring picks the key serve would sign with now;
//  - keysSecret: check does not talk to Kubernetes, so it cannot read the Secret. A throwaway key
//    of the configured algorithm signs instead, with a kid that says so, and the output marks it:
//    the claims and the decision are serve's, the signature verifies against nothing published.
import type { TokenIssuerConfig } from '../config/token-issuer-schema.js';
import { KeyError } from '../errors.js';
import { KeyRing } from '../mint/keys/key-ring.js';
import { newPrivateJwk } from '../mint/keys/new-key.js';
import { importPrivateJwk } from '../mint/keys/private-jwk.js';
import { loadKeysDir } from '../mint/keys/sources.js';

/** The kid of the stand-in key for a keysSecret configuration: visible in the decoded token header. */
export const THROWAWAY_KID = 'zt-authz-check-throwaway-key';

export interface CheckSigningKeys {
  ring: KeyRing;
  /** Set when the key is a stand-in: why, for the output. */
  throwaway?: string;
}

/** The key ring for `check`, or undefined without tokenIssuer. Throws KeyError (naming files and kids, never key material). */
export async function checkSigningKeys(t: TokenIssuerConfig | undefined): Promise<CheckSigningKeys | undefined> {
  if (!t) return undefined;
  const ring = new KeyRing({
    algorithm: t.algorithm,
    ttlSeconds: t.ttlSeconds,
    publishLeadSeconds: t.publishLeadSeconds,
    clockSkewSeconds: t.clockSkewSeconds,
  });
  if (t.keysDir !== undefined) {
    const load = await loadKeysDir(t.keysDir, t.algorithm);
    if (load.files.size === 0 && load.problems.length === 0) load.problems.push(`tokenIssuer.keysDir ${t.keysDir}: no *.json key file`);
    if (load.problems.length) throw new KeyError(`token issuer signing keys: ${load.problems.join('; ')}`);
    ring.update([...load.files.values()]);
    return { ring };
  }
  const s = t.keysSecret!;
  const jwk = { ...newPrivateJwk(t.algorithm), kid: THROWAWAY_KID };
  ring.update([{ key: await importPrivateJwk(jwk, t.algorithm, 'throwaway key') }]);
  return {
    ring,
    throwaway: `check cannot read Kubernetes Secrets (tokenIssuer.keysSecret ${s.name}); the token is signed with a throwaway key (kid ${THROWAWAY_KID}) that no JWKS publishes: its claims are serve's, its signature verifies nowhere`,
  };
}
