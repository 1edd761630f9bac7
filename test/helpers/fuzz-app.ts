// The App both adapter fuzzers run against: one ES256 issuer with an inline key, and one policy
// that allows exactly GET ALLOWED_PATH for `<ISS>/alice`, so an OK/200 is only right for that.
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTestApp, type TestApp } from './app.js';
import type { GrpcImplementation } from './grpc-impls.js';

export const FUZZ_ISS = 'https://fuzz.issuer';
export const ALLOWED_PATH = '/fuzz/allowed';

export interface FuzzApp {
  t: TestApp;
  /** Sign claims with the issuer's key (header alg ES256, kid fz). */
  sign(claims: Record<string, unknown>): Promise<string>;
  /** A valid token for alice: the allowed combination with GET ALLOWED_PATH. */
  good: string;
}

/** `grpc`: the gRPC server implementation (the default when absent). */
export async function startFuzzApp(grpc?: GrpcImplementation): Promise<FuzzApp> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'fz', alg: 'ES256', use: 'sig' };
  const t = await startTestApp(
    {
      ...(grpc ? { server: { grpcImplementation: grpc } } : {}),
      issuers: [
        {
          issuer: FUZZ_ISS,
          jwks: { keys: [jwk] },
          algorithms: ['ES256'],
          anyAudience: true,
          outputClaimToHeaders: [{ header: 'x-claim-sub', claim: 'sub' }],
        },
      ],
      policies: [
        {
          name: 'only-this',
          rules: [
            {
              from: [{ source: { requestPrincipals: [`${FUZZ_ISS}/alice`] } }],
              to: [{ operation: { methods: ['GET'], paths: [ALLOWED_PATH] } }],
            },
          ],
        },
      ],
    },
    { logLevel: 'error' },
  );
  const sign = (claims: Record<string, unknown>): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'fz' }).sign(pair.privateKey);
  const good = await sign({ iss: FUZZ_ISS, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 });
  return { t, sign, good };
}
