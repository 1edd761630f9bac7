// The `revocation` block: where revoked tokens and API keys are listed (src/authn/revocation/).
// Read at start only, like `kubernetes`: the file is watched and re-read, its path is not.
import { Type } from '@sinclair/typebox';

export const RevocationSchema = Type.Object(
  {
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'revocation list file (entries: {issuer, jti, expiresAt} | {issuer, subject, notBefore} | {apiKey, expiresAt}); watched like the config file; an invalid replacement keeps the last good list; unreadable or invalid at start: zt-authz does not start',
      }),
    ),
    kubernetes: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'with kubernetes.enabled: watch TokenRevocation resources (zt-authz.io/v1alpha1) in the watched namespaces; readiness waits for their first listing',
      }),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'revoked JWTs (by jti, or every token of a subject issued before a time) and API keys; read at start only',
  },
);

export interface RevocationConfig {
  file?: string;
  /** Watch TokenRevocation resources (only with kubernetes.enabled). */
  kubernetes: boolean;
}

export function resolveRevocation(r: { file?: string; kubernetes?: boolean } | undefined): RevocationConfig {
  return { ...(r?.file !== undefined ? { file: r.file } : {}), kubernetes: r?.kubernetes ?? true };
}
