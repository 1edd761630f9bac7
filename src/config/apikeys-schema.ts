// API-key sources (`apiKeys[]`): where a key is found in the request and where the hashed keys
// come from (a watched file and/or Kubernetes Secrets by label). Part of ConfigSchema (schema.ts);
// defaults live here and only here. The keys themselves are never in the configuration: only
// their SHA-256, in the keys file or the Secrets (src/authn/apikeys/).
import { Type, type Static } from '@sinclair/typebox';
import type { ConfigProblem } from './problems.js';

const HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';

const ApiKeyHeader = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: HEADER_NAME, description: 'header name' }),
    prefix: Type.Optional(Type.String({ default: '', description: 'value prefix stripped before the key, e.g. "ApiKey "' })),
  },
  { additionalProperties: false },
);

export const ApiKeySourceSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      description: 'source name (lower-case DNS label): the request principal of a key is apikey:<name>/<subject>',
    }),
    fromHeaders: Type.Optional(
      Type.Array(ApiKeyHeader, {
        minItems: 1,
        description: 'headers that may carry the key (default: x-api-key, no prefix); must not be a header an issuer reads tokens from',
      }),
    ),
    fromParams: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'query parameters that may carry the key (names matched as sent); HTTP mode and the v2 API cannot remove them upstream, so a key there is denied (token_not_removable)',
      }),
    ),
    keysFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'YAML file of hashed keys (`keys: [{name, sha256, subject, scopes, roles, claims, expiresAt}]`), watched; an invalid replacement keeps the last good set',
      }),
    ),
    keysSecretSelector: Type.Optional(
      Type.Object(
        {
          matchLabels: Type.Record(Type.String({ pattern: LABEL_KEY }), Type.String({ maxLength: 63 }), {
            minProperties: 1,
            description: 'labels a Secret must carry; each such Secret holds a keys file under the data key keys.yaml',
          }),
          namespace: Type.Optional(
            Type.String({ minLength: 1, description: 'namespace of the Secrets (default: the namespace zt-authz runs in)' }),
          ),
        },
        { additionalProperties: false, description: 'Kubernetes Secrets of hashed keys, by label, watched; needs kubernetes.enabled' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ApiKeySourceInput = Static<typeof ApiKeySourceSchema>;

export const ApiKeysSchema = Type.Array(ApiKeySourceSchema, {
  default: [],
  description:
    'API-key sources: a key found in one of their locations is looked up by its SHA-256; the request principal is apikey:<source>/<subject>',
});

export interface ResolvedApiKeySource {
  name: string;
  /** Lower-case header names, each with its prefix. */
  fromHeaders: { name: string; prefix: string }[];
  fromParams: string[];
  keysFile?: string;
  keysSecretSelector?: { matchLabels: Record<string, string>; namespace?: string };
}

/** Issuer credential locations an API-key source must not share (a value there could be either). */
export interface TokenLocations {
  headers: ReadonlySet<string>;
  params: ReadonlySet<string>;
}

export function resolveApiKeySources(
  input: readonly ApiKeySourceInput[],
  issuers: TokenLocations,
  kubernetesEnabled: boolean,
  problems: ConfigProblem[],
): ResolvedApiKeySource[] {
  const names = new Map<string, number>();
  const headerOwner = new Map<string, string>();
  const paramOwner = new Map<string, string>();
  return input.map((src, i) => {
    const path = `apiKeys[${i}]`;
    const prev = names.get(src.name);
    if (prev !== undefined) problems.push({ path: `${path}.name`, message: `duplicate of apiKeys[${prev}]` });
    names.set(src.name, i);
    if (!src.keysFile && !src.keysSecretSelector)
      problems.push({ path, message: 'needs keysFile and/or keysSecretSelector (where the hashed keys come from)' });
    if (src.keysSecretSelector && !kubernetesEnabled)
      problems.push({ path: `${path}.keysSecretSelector`, message: 'needs kubernetes.enabled' });
    const headers = (src.fromHeaders ?? (src.fromParams ? [] : [{ name: 'x-api-key', prefix: '' }])).map((h) => ({
      name: h.name.toLowerCase(),
      prefix: h.prefix ?? '',
    }));
    headers.forEach((h, j) => {
      const where = `${path}.fromHeaders[${j}].name`;
      if (issuers.headers.has(h.name)) problems.push({ path: where, message: `"${h.name}" is a header an issuer reads tokens from` });
      else if (h.name === 'cookie' || h.name === 'host' || h.name.startsWith(':'))
        problems.push({ path: where, message: `"${h.name}" cannot carry an API key` });
      const owner = headerOwner.get(h.name);
      if (owner !== undefined && owner !== path) problems.push({ path: where, message: `"${h.name}" is already read by ${owner}` });
      headerOwner.set(h.name, path);
    });
    const params = src.fromParams ?? [];
    params.forEach((p, j) => {
      const where = `${path}.fromParams[${j}]`;
      if (issuers.params.has(p)) problems.push({ path: where, message: `"${p}" is a query parameter an issuer reads tokens from` });
      const owner = paramOwner.get(p);
      if (owner !== undefined && owner !== path) problems.push({ path: where, message: `"${p}" is already read by ${owner}` });
      paramOwner.set(p, path);
    });
    const sel = src.keysSecretSelector;
    return {
      name: src.name,
      fromHeaders: headers,
      fromParams: [...new Set(params)],
      ...(src.keysFile ? { keysFile: src.keysFile } : {}),
      ...(sel
        ? { keysSecretSelector: { matchLabels: { ...sel.matchLabels }, ...(sel.namespace ? { namespace: sel.namespace } : {}) } }
        : {}),
    };
  });
}
