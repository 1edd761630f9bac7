// The `tokenIssuer` block: zt-authz as an issuer of short-lived internal tokens (src/mint/). The
// names issuer, keysDir, keysSecret, algorithm and ttlSeconds are a contract. Part of ConfigSchema
// (schema.ts); defaults live here and only here. Read at start only: the signing keys themselves
// are watched and rotate without a restart (src/mint/keys/).
import { Type, type Static } from '@sinclair/typebox';
import type { ConfigProblem } from './problems.js';
import { StringEnum } from './schema-parts.js';

/** The cap on a minted token's lifetime: internal tokens are meant to be short-lived. */
export const MAX_MINT_TTL_SECONDS = 900;

export const MINT_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;

const KeysSecret = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        maxLength: 63,
        description: 'a namespace name: where the Secret is (default: the namespace zt-authz runs in)',
      }),
    ),
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253, description: 'a Secret name' }),
    key: Type.Optional(
      Type.String({
        pattern: '^[-._a-zA-Z0-9]+$',
        maxLength: 253,
        default: 'signing-keys.json',
        description: 'a Secret data key: the one holding a JWK Set of private signing keys ({"keys": [...]}, each with kid)',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'instead of keysDir: the private signing keys in a Kubernetes Secret, watched (needs kubernetes.enabled); `zt-authz keys new --secret` adds keys to it',
  },
);

export const TokenIssuerSchema = Type.Object(
  {
    issuer: Type.String({
      minLength: 1,
      description:
        'iss of minted tokens, an https (or http) URL without query, fragment or trailing slash; discovery and JWKS are served on the admin listener under its path',
    }),
    keysDir: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'directory of private signing keys, one JWK (with kid) per *.json file, watched; an invalid or unreadable file keeps the last good keys',
      }),
    ),
    keysSecret: Type.Optional(KeysSecret),
    algorithm: Type.Optional(
      StringEnum(MINT_ALGORITHMS, {
        default: 'ES256',
        description:
          'signature algorithm: ES256 (EC P-256), EdDSA (OKP Ed25519) or RS256 (RSA of 2048 bits or more); every key must fit it',
      }),
    ),
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_MINT_TTL_SECONDS,
        default: 120,
        description: `lifetime of a minted token (exp - iat), at most ${MAX_MINT_TTL_SECONDS}`,
      }),
    ),
    publishLeadSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86400,
        default: 300,
        description:
          "a new key is published in the JWKS at once but signs only this long after its creation time, so consumers' JWKS caches hold it first (a key that is the only one able to sign signs at once)",
      }),
    ),
    clockSkewSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 600,
        default: 60,
        description:
          "allowance for consumers' clocks and for replicas noticing a key change late: a retired key stays published until its last token's exp plus this",
      }),
    ),
    pollSeconds: Type.Optional(
      Type.Number({
        minimum: 0,
        default: 10,
        description:
          'keysDir: also re-read the directory this often, so a replica that missed a file event notices a removed key in time; with keysDir it must be above 0 and below clockSkewSeconds',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'zt-authz as the issuer of short-lived internal tokens (JWTs it signs with its own rotating keys); read at start only, the keys are watched',
  },
);

export type TokenIssuerInput = Static<typeof TokenIssuerSchema>;

export type MintAlgorithmName = (typeof MINT_ALGORITHMS)[number];

export interface TokenIssuerConfig {
  issuer: string;
  /** Exactly one of keysDir and keysSecret is set. */
  keysDir?: string;
  /** No namespace: the one zt-authz runs in, known only at run time. */
  keysSecret?: { namespace?: string; name: string; key: string };
  algorithm: MintAlgorithmName;
  ttlSeconds: number;
  publishLeadSeconds: number;
  clockSkewSeconds: number;
  pollSeconds: number;
}

/** Cross-field checks and the resolved block; problems are appended to `problems`. */
export function resolveTokenIssuer(
  t: TokenIssuerInput | undefined,
  kubernetesEnabled: boolean,
  problems: ConfigProblem[],
): TokenIssuerConfig | undefined {
  if (!t) return undefined;
  const path = 'tokenIssuer';
  const issuerProblem = issuerUrlProblem(t.issuer);
  if (issuerProblem) problems.push({ path: `${path}.issuer`, message: issuerProblem });
  if ((t.keysDir === undefined) === (t.keysSecret === undefined))
    problems.push({ path, message: 'set exactly one of keysDir and keysSecret (where the private signing keys are)' });
  if (t.keysSecret && !kubernetesEnabled) problems.push({ path: `${path}.keysSecret`, message: 'needs kubernetes.enabled' });
  if (t.keysDir !== undefined) {
    const problem = pollProblem(t.pollSeconds!, t.clockSkewSeconds!);
    if (problem) problems.push({ path: `${path}.pollSeconds`, message: problem });
  }
  const s = t.keysSecret;
  return {
    issuer: t.issuer,
    ...(t.keysDir !== undefined ? { keysDir: t.keysDir } : {}),
    ...(s ? { keysSecret: { ...(s.namespace ? { namespace: s.namespace } : {}), name: s.name, key: s.key! } } : {}),
    algorithm: t.algorithm!,
    ttlSeconds: t.ttlSeconds!,
    publishLeadSeconds: t.publishLeadSeconds!,
    clockSkewSeconds: t.clockSkewSeconds!,
    pollSeconds: t.pollSeconds!,
  };
}

/**
 * keysDir: how late a replica may notice that a key file is gone. The key ring (key-ring.ts)
 * keeps a removed key published until (when this replica noticed, or its last signature here,
 * whichever is later) + ttlSeconds + clockSkewSeconds. A replica that notices d seconds after
 * another keeps signing with the key until then, and its last token is valid until d + ttlSeconds
 * after the first replica stopped; a verifier that fetched the first replica's JWKS after that
 * one dropped the key cannot verify it. So d, plus the verifiers' own clock error, must fit in
 * clockSkewSeconds. Each replica polls the directory (file events come first but can be missed),
 * so d is at most pollSeconds (and the time to read the files): pollSeconds < clockSkewSeconds,
 * and polling on. Not checked for keysSecret: each replica watches the Secret through the API
 * server, which tells every replica of a change within moments, not at a poll.
 */
function pollProblem(pollSeconds: number, clockSkewSeconds: number): string | undefined {
  if (pollSeconds <= 0)
    return `0 (file events only) cannot be used with keysDir: a replica that misses the event of a removed key file keeps signing with that key after the other replicas stop publishing it; poll more often than clockSkewSeconds (${clockSkewSeconds})`;
  if (pollSeconds >= clockSkewSeconds)
    return `must be less than tokenIssuer.clockSkewSeconds (${clockSkewSeconds}): a replica that notices a removed key file only at its next poll keeps signing with that key after the other replicas stop publishing it; lower pollSeconds or raise clockSkewSeconds`;
  return undefined;
}

/** OpenID Connect Discovery: the issuer is a URL with no query or fragment; discovery appends to it, so no trailing slash. */
function issuerUrlProblem(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return 'must be an https or http URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https or http URL';
  if (url.search || url.hash || issuer.includes('?') || issuer.includes('#')) return 'must have no query or fragment';
  if (url.username || url.password) return 'must not hold credentials';
  if (issuer.endsWith('/')) return 'must not end with "/" (discovery appends /.well-known/openid-configuration to it)';
  return undefined;
}
