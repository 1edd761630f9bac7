// Keycloak as a real IdP: access tokens Keycloak itself mints (client credentials for service
// clients, the password grant for a user) verified by `zt-authz serve` through the realm's discovery
// document and JWKS, over real gRPC Checks, with Keycloak's realm roles (`realm_access.roles`,
// read through `authorization.rolesClaim`) and client scopes driving the policies, and an acr step-up
// through Keycloak's browser flow (level-of-authentication conditions). The realm is
// scripts/keycloak/zt-test-realm.json; Keycloak runs from scripts/keycloak-testenv.sh, started once
// for the tier by test/integration/keycloak.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { authV3Client, check, checkRequest, closeAll, headerValue, type AuthClient } from '../helpers/grpc-client.js';
import { registerPrivateKey, registerToken } from '../helpers/capture.js';
import { tempDir, type Proc } from '../e2e/helpers/procs.js';
import { ORDERS_AUDIENCE, kidOf, startZtAuthz, type Keycloak } from './helpers/keycloak.js';
import type { CheckResponse } from '../../src/transport/grpc/messages.js';

const HOST = 'orders.example.test';

/** The suite, on the Keycloak `kc` (test/integration/keycloak.test.ts starts it), skipped with `skip`. */
export function tokensSuite(kc: Keycloak, skip: string | false): void {
  describe('Keycloak: client credentials, realm roles and scopes through zt-authz', { skip, timeout: 180_000 }, () => {
    let tmp: ReturnType<typeof tempDir>;
    let zt: Proc;
    let v3: AuthClient;

    before(async () => {
      tmp = tempDir('zt-kc-tokens-');
      const z = await startZtAuthz(
        tmp.dir,
        (p) => `server: { grpc: "127.0.0.1:${p.grpc}", http: "127.0.0.1:${p.http}", admin: "127.0.0.1:${p.admin}", drainSeconds: 1 }
issuers:
  - issuer: "${kc.issuer}"
    discovery: true
    audiences: ["${ORDERS_AUDIENCE}"]
    requiredClaims: [azp]
    jwksCooldownSeconds: 1
authorization:
  rolesClaim: realm_access.roles
policies:
  # Reading orders: any Keycloak caller holding the orders:read scope.
  - name: orders-read
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [GET], paths: ["/orders", "/orders/*"] } }]
        when: [{ key: "request.auth.claims[scope]", values: ["orders:read"] }]
  # Changing orders: the orders:write scope AND the orders-admin realm role.
  - name: orders-write
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [POST], paths: ["/orders"] } }]
        when:
          - { key: "request.auth.claims[scope]", values: ["orders:write"] }
          - { key: "request.auth.roles", values: ["orders-admin"] }
  # Deleting: the orders-admin role, whatever the scopes.
  - name: orders-delete
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [DELETE], paths: ["/orders/*"] } }]
        when: [{ key: "request.auth.roles", values: ["orders-admin"] }]
  # Reports: the orders-viewer role (a user signed in through the portal, or a service).
  - name: reports
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [GET], paths: ["/reports/*"] } }]
        when: [{ key: "request.auth.roles", values: ["orders-viewer"] }]
  # Approving a payment: the orders-viewer role, signed in at acr gold (password and a TOTP code).
  - name: payments-approve
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [POST], paths: ["/payments/*"] } }]
        when:
          - { key: "request.auth.roles", values: ["orders-viewer"] }
          - { key: "request.auth.acr", values: ["gold"] }
  # Payment details: a sign-in that included a one-time code (amr otp).
  - name: payments-read
    rules:
      - from: [{ source: { requestPrincipals: ["${kc.issuer}/*"] } }]
        to: [{ operation: { methods: [GET], paths: ["/payments/*"] } }]
        when: [{ key: "request.auth.amr", values: ["otp"] }]
`,
      );
      zt = z.proc;
      v3 = authV3Client(z.grpc);
    });

    after(async () => {
      if (v3) closeAll(v3);
      await zt?.stop();
      tmp?.remove();
    });

    const call = (method: string, path: string, token?: string): Promise<CheckResponse> =>
      check(v3, checkRequest({ method, path, host: HOST, ...(token ? { token } : {}) }), 10_000);
    const reasonOf = (r: CheckResponse): string => (r.status?.code === 0 ? 'allowed' : (r.status?.message ?? '?'));

    async function token(client: Parameters<Keycloak['clientToken']>[0], scope?: string): Promise<string> {
      const r = await kc.clientToken(client, scope);
      assert.equal(r.status, 200, `token for ${client} (${scope}): ${r.error} ${r.error_description}`);
      return r.access_token!;
    }

    it('a client-credentials token from Keycloak is verified through discovery + JWKS and allowed where its scope is', async () => {
      const t = await token('orders-admin-svc', 'orders:read');
      const claims = decodeJwt(t);
      // What Keycloak really mints (the policies below rely on it).
      assert.equal(claims.iss, kc.issuer);
      assert.equal(claims.aud, ORDERS_AUDIENCE, 'the realm audience mapper');
      assert.equal(claims.azp, 'orders-admin-svc');
      assert.equal(claims.scope, 'orders:read');
      assert.deepEqual([...((claims.realm_access as { roles: string[] }).roles ?? [])].sort(), ['orders-admin', 'orders-viewer']);
      assert.equal(decodeProtectedHeader(t).alg, 'RS256');
      assert.ok((await kc.jwksKids()).includes(kidOf(t)), 'signed with a key the realm publishes');

      const r = await call('GET', '/orders/42', t);
      assert.equal(reasonOf(r), 'allowed');
      assert.equal(headerValue(r.okResponse?.headers, 'x-auth-subject'), claims.sub);
      assert.equal(headerValue(r.okResponse?.headers, 'x-auth-issuer'), kc.issuer);
      assert.equal(headerValue(r.okResponse?.headers, 'x-auth-scopes'), 'orders:read');
      // The credential is removed on the way upstream (forwardOriginalToken: false).
      assert.ok((r.okResponse?.headersToRemove ?? []).includes('authorization'));
    });

    it('scopes: without orders:write a POST is insufficient_scope (with the challenge); with it, allowed', async () => {
      const readOnly = await token('orders-admin-svc', 'orders:read');
      let r = await call('POST', '/orders', readOnly);
      assert.equal(reasonOf(r), 'insufficient_scope');
      assert.match(headerValue(r.deniedResponse?.headers, 'www-authenticate') ?? '', /error="insufficient_scope",.* scope="orders:write"/);
      // No optional scope asked for: Keycloak grants none of them.
      const none = await token('orders-admin-svc');
      assert.equal(reasonOf(await call('GET', '/orders/1', none)), 'insufficient_scope');

      const rw = await token('orders-admin-svc', 'orders:read orders:write');
      // Keycloak lists granted scopes in no fixed order.
      assert.deepEqual(String(decodeJwt(rw).scope).split(' ').sort(), ['orders:read', 'orders:write']);
      r = await call('POST', '/orders', rw);
      assert.equal(reasonOf(r), 'allowed');
    });

    it('Keycloak itself refuses a scope the client may not ask for (orders-viewer-svc has orders:read only)', async () => {
      const r = await kc.clientToken('orders-viewer-svc', 'orders:read orders:write');
      assert.equal(r.status, 400);
      assert.equal(r.error, 'invalid_scope');
    });

    it('realm roles (realm_access.roles via authorization.rolesClaim): orders-admin may delete, orders-viewer may not', async () => {
      const admin = await token('orders-admin-svc');
      const viewer = await token('orders-viewer-svc', 'orders:read');
      assert.deepEqual((decodeJwt(viewer).realm_access as { roles: string[] }).roles, ['orders-viewer']);
      assert.equal(reasonOf(await call('DELETE', '/orders/7', admin)), 'allowed');
      assert.equal(reasonOf(await call('DELETE', '/orders/7', viewer)), 'no_policy_matched');
      // The viewer reads orders (scope) and reports (role), and cannot write.
      assert.equal(reasonOf(await call('GET', '/orders/7', viewer)), 'allowed');
      assert.equal(reasonOf(await call('GET', '/reports/daily', viewer)), 'allowed');
      assert.notEqual(reasonOf(await call('POST', '/orders', viewer)), 'allowed');
    });

    it('role removed in Keycloak: the next token lacks it and is denied; granted back, allowed again', async () => {
      const users = await kc.admin<Array<{ id: string }>>('GET', '/users?username=service-account-orders-admin-svc&exact=true');
      const role = await kc.admin<{ id: string; name: string }>('GET', '/roles/orders-admin');
      const mapping = `/users/${users[0]!.id}/role-mappings/realm`;
      await kc.admin('DELETE', mapping, [role]);
      try {
        const t = await token('orders-admin-svc', 'orders:read orders:write');
        assert.ok(!(decodeJwt(t).realm_access as { roles: string[] }).roles.includes('orders-admin'));
        assert.equal(reasonOf(await call('DELETE', '/orders/7', t)), 'no_policy_matched');
        assert.equal(reasonOf(await call('POST', '/orders', t)), 'no_policy_matched');
      } finally {
        await kc.admin('POST', mapping, [role]);
      }
      assert.equal(reasonOf(await call('DELETE', '/orders/7', await token('orders-admin-svc'))), 'allowed');
    });

    it('a user signed in through Keycloak (password grant): his realm role admits reports, not deletes', async () => {
      const r = await kc.userToken('bob', 'orders:read');
      assert.equal(r.status, 200, `${r.error} ${r.error_description}`);
      const t = r.access_token!;
      const claims = decodeJwt(t);
      assert.equal(claims.preferred_username, undefined, 'the realm adds no profile claims (only basic, acr, roles, audience)');
      assert.equal(claims.azp, 'orders-portal');
      assert.equal(claims.aud, ORDERS_AUDIENCE);
      assert.equal(reasonOf(await call('GET', '/reports/daily', t)), 'allowed');
      assert.equal(reasonOf(await call('GET', '/orders/1', t)), 'allowed');
      assert.equal(reasonOf(await call('DELETE', '/orders/1', t)), 'no_policy_matched');
      // orders-write needs the scope AND the orders-admin role: a step-up of scope alone would not
      // help him, so no insufficient_scope challenge (that is only for a rule failing on scope alone).
      assert.equal(reasonOf(await call('POST', '/orders', t)), 'no_policy_matched');
    });

    it('step-up: a silver sign-in gets the acr challenge; the user steps up with the code alone (SSO session) and is allowed', async () => {
      const browser = kc.browser('alice');
      const silver = await browser.authorize({ acrValues: 'silver', scope: 'openid orders:read' });
      assert.deepEqual(silver.forms, ['kc-form-login'], 'silver: the password form only');
      let claims = decodeJwt(silver.token);
      assert.equal(claims.acr, 'silver');
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(reasonOf(await call('GET', '/orders/1', silver.token)), 'allowed');

      // The acr rule fails alone: 401 with the RFC 9470 challenge naming the level to ask for.
      let r = await call('POST', '/payments/9', silver.token);
      assert.equal(reasonOf(r), 'insufficient_user_authentication');
      const www = headerValue(r.deniedResponse?.headers, 'www-authenticate') ?? '';
      assert.match(www, /error="insufficient_user_authentication"/);
      const acrValues = www.match(/acr_values="([^"]+)"/)?.[1];
      assert.equal(acrValues, 'gold', www);
      assert.equal(reasonOf(await call('GET', '/payments/9', silver.token)), 'insufficient_user_authentication');

      // What the challenge asks for, from Keycloak: the SSO session covers the password, so only
      // the OTP form is shown.
      const gold = await browser.authorize({ acrValues, scope: 'openid orders:read' });
      assert.deepEqual(gold.forms, ['kc-otp-login-form'], 'step-up asks only for the TOTP code');
      claims = decodeJwt(gold.token);
      assert.equal(claims.acr, 'gold');
      assert.deepEqual([...(claims.amr as string[])].sort(), ['otp', 'pwd']);
      r = await call('POST', '/payments/9', gold.token);
      assert.equal(reasonOf(r), 'allowed');
      assert.equal(reasonOf(await call('GET', '/payments/9', gold.token)), 'allowed');
      // The step-up raised the authentication level, not the privileges.
      assert.equal(reasonOf(await call('DELETE', '/orders/1', gold.token)), 'no_policy_matched');
    });

    it('a Keycloak token minted without the orders audience is denied (audience_mismatch)', async () => {
      const t = await token('orders-other-svc', 'orders:read');
      assert.notDeepEqual([decodeJwt(t).aud].flat(), [ORDERS_AUDIENCE]);
      assert.equal(reasonOf(await call('GET', '/orders/1', t)), 'audience_mismatch');
    });

    it('a token from another realm of the same Keycloak (master) is issuer_unknown', async () => {
      // The admin token the helper holds is a real master-realm access token.
      const master = await kc.masterToken();
      assert.equal(decodeJwt(master).iss, `${kc.url}/realms/master`);
      assert.equal(reasonOf(await call('GET', '/orders/1', master)), 'issuer_unknown');
    });

    it('a Keycloak token re-signed with a foreign key under the same kid is token_invalid_signature', async () => {
      const t = await token('orders-admin-svc', 'orders:read');
      const [h, p] = t.split('.') as [string, string, string];
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      registerPrivateKey(privateKey);
      const sig = cryptoSign('sha256', Buffer.from(`${h}.${p}`), createPrivateKey({ key: await exportJWK(privateKey), format: 'jwk' }));
      const forged = registerToken(`${h}.${p}.${sig.toString('base64url')}`);
      assert.equal(reasonOf(await call('GET', '/orders/1', forged)), 'token_invalid_signature');
      // The untouched token still passes (the key set was not poisoned by the forgery).
      assert.equal(reasonOf(await call('GET', '/orders/1', t)), 'allowed');
    });
  });
}
