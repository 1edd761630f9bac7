// Drives the oidc-provider process (oidc-idp.ts): start, key rotation by restart on the same
// port, and the client_credentials grant as a service client performs it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { startProc, type Proc } from './procs.js';
import { registerHmacSecret, registerPrivateKey } from '../../helpers/capture.js';

const SCRIPT = fileURLToPath(new URL('./oidc-idp.js', import.meta.url));

export interface IdpClient {
  client_id: string;
  client_secret: string;
  /** Scopes this client may be granted. */
  scope: string;
}

export interface SigningKey {
  kid: string;
  /** Private JWK (kid, alg, use set). */
  jwk: JWK;
  privateKey: CryptoKey;
}

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  registerPrivateKey(privateKey); // log hygiene (test/final/log-hygiene.test.ts)
  return { kid, privateKey, jwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } };
}

export interface TokenResponse {
  status: number;
  access_token?: string;
  scope?: string;
  error?: string;
}

export class OidcIdp {
  proc!: Proc;
  starts = 0;
  private constructor(
    private readonly dir: string,
    readonly port: number,
    readonly resource: string,
    readonly scopes: string[],
    readonly clients: IdpClient[],
    public keys: SigningKey[],
    readonly accessTokenFormat: 'jwt' | 'opaque' = 'jwt',
  ) {}

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(o: {
    dir: string;
    port: number;
    resource: string;
    scopes: string[];
    clients: IdpClient[];
    keys: SigningKey[];
    /** `opaque`: access tokens are opaque strings, checked through the introspection endpoint. */
    accessTokenFormat?: 'jwt' | 'opaque';
  }): Promise<OidcIdp> {
    const idp = new OidcIdp(o.dir, o.port, o.resource, o.scopes, o.clients, o.keys, o.accessTokenFormat);
    await idp.launch();
    return idp;
  }

  /** Publish `keys` (the first one signs from now on): the IdP restarts on the same port. */
  async rotate(keys: SigningKey[]): Promise<void> {
    await this.proc.stop();
    this.keys = keys;
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  /** client_credentials with a resource indicator, endpoint found through discovery. */
  async token(client: IdpClient, scope: string, resource = this.resource): Promise<TokenResponse> {
    registerHmacSecret(client.client_secret); // log hygiene: a client credential must never be printed
    const disco = (await (
      await fetch(`${this.issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) })
    ).json()) as { token_endpoint: string };
    const res = await fetch(disco.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, ...((await res.json()) as Omit<TokenResponse, 'status'>) };
  }

  /** RFC 7009 revocation of `token` by the client it was issued to; resolves to the HTTP status. */
  async revoke(client: IdpClient, token: string): Promise<number> {
    const res = await fetch(`${this.issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    return res.status;
  }

  private async launch(): Promise<void> {
    const cfg = join(this.dir, `idp-${++this.starts}.json`);
    writeFileSync(
      cfg,
      JSON.stringify({
        port: this.port,
        resource: this.resource,
        scopes: this.scopes,
        clients: this.clients,
        keys: this.keys.map((k) => k.jwk),
        accessTokenFormat: this.accessTokenFormat,
      }),
      { mode: 0o600 },
    );
    this.proc = startProc('oidc-provider', process.execPath, [SCRIPT, cfg]);
    const end = Date.now() + 15000;
    while (!this.proc.output().includes(`ready ${this.issuer}`)) {
      if (this.proc.child.exitCode !== null || Date.now() > end) throw new Error(`oidc-provider did not start:\n${this.proc.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
