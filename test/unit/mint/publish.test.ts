// The token issuer's discovery document: what a verifier needs (issuer, jwks_uri), the members
// OpenID Connect Discovery requires (which verifying libraries read), the algorithm named for
// access tokens too, and nothing that describes a token endpoint zt-authz does not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discoveryDocument, publishPaths } from '../../../src/mint/keys/publish.js';

test('discovery: issuer, jwks_uri under the issuer path, the required OIDC members, the algorithm for access tokens', () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    const issuer = 'http://127.0.0.1:9090/internal';
    assert.deepEqual(discoveryDocument(issuer, alg), {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [alg],
      access_token_signing_alg_values_supported: [alg],
    });
    assert.equal(publishPaths(issuer).jwks, new URL(String(discoveryDocument(issuer, alg).jwks_uri)).pathname);
  }
});
