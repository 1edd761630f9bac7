// A real Keycloak for the Keycloak integration tier (scripts/keycloak-testenv.sh): one instance per
// test file, in its own state directory, stopped after the file (and by the script's watchdog if the
// test process dies). Tokens come from Keycloak's own token endpoint, found through the realm's
// discovery document; the realm's keys are changed through Keycloak's admin REST API.
//
// Without Java 21+ or Maven, or when the download fails, the tier is skipped with a message, except
// under CI=true, where that and any failed start fail the file.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { runTestenvScript, type ScriptResult } from './testenv-script.js';
import { registerHmacSecret, registerToken } from '../../helpers/capture.js';
import { freePort } from '../../helpers/app.js';
import { startProc, waitForHttp, type Proc } from '../../e2e/helpers/procs.js';

export const ROOT = new URL('../../../../', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'scripts', 'keycloak-testenv.sh');

/** The audience the realm's audience mapper puts in access tokens (scripts/keycloak/zt-test-realm.json). */
export const ORDERS_AUDIENCE = 'https://orders.example.test';

export type ClientId = 'orders-admin-svc' | 'orders-viewer-svc' | 'orders-other-svc' | 'orders-portal';

interface Credentials {
  url: string;
  realm: string;
  issuer: string;
  admin: { username: string; password: string };
  clients: Record<ClientId, string>;
  users: Record<string, string>;
  totp: Record<string, string>;
}

export interface TokenResult {
  status: number;
  access_token?: string;
  scope?: string;
  error?: string;
  error_description?: string;
}

export interface RealmKey {
  kid: string;
  providerId: string;
  algorithm: string;
  status: string;
  use: string;
  providerPriority: number;
}

export interface Keycloak {
  url: string;
  issuer: string;
  version: string;
  /** Seconds `up` took (download excluded when the cache was warm). */
  startSeconds: number;
  stateDir: string;
  /** client_credentials as a confidential client (client_secret_basic), token endpoint from discovery. */
  clientToken(client: ClientId, scope?: string): Promise<TokenResult>;
  /** The resource-owner password grant for a realm user through `orders-portal`. */
  userToken(username: string, scope?: string): Promise<TokenResult>;
  /** An admin REST call on this realm (`/admin/realms/<realm><path>`); throws unless 2xx. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /**
   * A user's browser: Keycloak's login pages driven over HTTP with a cookie jar, so a second
   * authorize() reuses the SSO session (step-up asks only for what the new level adds).
   */
  browser(username: string): Browser;
  /** An access token of the master realm (the admin's): a real Keycloak token of another issuer. */
  masterToken(): Promise<string>;
  /** The realm's keys as the admin API lists them. */
  keys(): Promise<RealmKey[]>;
  /** kids of the realm's published JWKS (the certs endpoint from discovery). */
  jwksKids(): Promise<string[]>;
  /** The last lines of Keycloak's log (for failure messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

function run(args: string[], env: NodeJS.ProcessEnv, echo: boolean): Promise<ScriptResult> {
  return runTestenvScript(SCRIPT, 'keycloak-testenv', args, env, echo);
}

const vars = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

/**
 * Starts an instance, or returns a skip reason (no Java 21+, no Maven, or no download; outside CI
 * only). Under CI=true every failure throws, so the tier can never pass by skipping.
 */
export async function startKeycloak(): Promise<Keycloak | { skip: string }> {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'zt-keycloak-')), 'state');
  const env = { ...process.env, ZT_KEYCLOAK_STATE_DIR: stateDir, ZT_KEYCLOAK_PARENT_PID: String(process.pid) };
  const t0 = performance.now();
  const up = await run(['up'], env, true);
  const startSeconds = (performance.now() - t0) / 1000;
  if (up.code === 3 && process.env.CI !== 'true') {
    const why = up.stderr.split('\n').find((l) => l.includes('cannot run Keycloak here')) ?? up.stderr.trim().split('\n').pop();
    return { skip: `the Keycloak tier is skipped: ${why} (under CI=true this fails)` };
  }
  const v = vars(up.stdout);
  if (up.code !== 0 || !v.KEYCLOAK_URL || !v.KEYCLOAK_CREDENTIALS)
    throw new Error(`scripts/keycloak-testenv.sh up failed (exit ${up.code}):\n${up.stderr.slice(-4000)}`);
  const creds = JSON.parse(readFileSync(v.KEYCLOAK_CREDENTIALS, 'utf8')) as Credentials;
  // Log hygiene: none of these may ever be printed by anything in the run.
  for (const s of [creds.admin.password, ...Object.values(creds.clients), ...Object.values(creds.users), ...Object.values(creds.totp)])
    registerHmacSecret(s);
  const envFile = vars(readFileSync(join(stateDir, 'env'), 'utf8'));
  const issuer = v.KEYCLOAK_ISSUER!;
  const url = v.KEYCLOAK_URL;

  let disco: { token_endpoint: string; jwks_uri: string } | undefined;
  const discovery = async () =>
    (disco ??= (await (await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) })).json()) as {
      token_endpoint: string;
      jwks_uri: string;
    });

  const tokenCall = async (client: ClientId, form: Record<string, string>): Promise<TokenResult> => {
    const basic = Buffer.from(`${encodeURIComponent(client)}:${encodeURIComponent(creds.clients[client])}`).toString('base64');
    const res = await fetch((await discovery()).token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as Omit<TokenResult, 'status'>;
    if (body.access_token) registerToken(body.access_token);
    return { status: res.status, ...body };
  };

  let adminToken: { token: string; until: number } | undefined;
  const adminBearer = async (): Promise<string> => {
    if (adminToken && adminToken.until > Date.now()) return adminToken.token;
    const res = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: creds.admin.username,
        password: creds.admin.password,
      }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!res.ok || !body.access_token) throw new Error(`Keycloak admin token: HTTP ${res.status}`);
    registerToken(body.access_token);
    // Renewed well before it expires (Keycloak's master realm default is 60 s).
    adminToken = { token: body.access_token, until: Date.now() + Math.max(5, (body.expires_in ?? 60) - 20) * 1000 };
    return adminToken.token;
  };

  const kc: Keycloak = {
    url,
    issuer,
    version: envFile.KEYCLOAK_VERSION ?? '?',
    startSeconds,
    stateDir,
    clientToken: (client, scope) => tokenCall(client, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
    userToken: (username, scope) =>
      tokenCall('orders-portal', {
        grant_type: 'password',
        username,
        password: creds.users[username] ?? '',
        scope: ['openid', scope].filter(Boolean).join(' '),
      }),
    async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${url}/admin/realms/${creds.realm}${path}`, {
        method,
        headers: { authorization: `Bearer ${await adminBearer()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`Keycloak admin ${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    masterToken: adminBearer,
    browser: (username) => browserFor(issuer, creds, username),
    async keys() {
      return (await kc.admin<{ keys: RealmKey[] }>('GET', '/keys')).keys;
    },
    async jwksKids() {
      const res = await fetch((await discovery()).jwks_uri, { signal: AbortSignal.timeout(10_000) });
      return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    },
    logTail(lines = 40) {
      try {
        return readFileSync(join(stateDir, 'keycloak.log'), 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '(no Keycloak log)';
      }
    },
    async stop() {
      await run(['down'], env, false);
      // down removes the state directory; its temporary parent is ours to remove.
      rmSync(dirname(stateDir), { recursive: true, force: true });
    },
  };
  return kc;
}

export interface Browser {
  /**
   * The authorization-code flow through `orders-portal` with `acr_values`: answers the login form
   * (username + password) and the OTP form (a TOTP code from the user's secret) as they come,
   * then redeems the code. `forms` lists the forms that were shown.
   */
  authorize(o: { acrValues?: string; scope?: string }): Promise<{ token: string; forms: string[] }>;
}

/** RFC 6238 TOTP as Keycloak's defaults compute it: HMAC-SHA1 over the secret's UTF-8 bytes, 6 digits, 30 s. */
export function totp(secret: string, at = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const h = createHmac('sha1', Buffer.from(secret, 'utf8')).update(counter).digest();
  const o = h[h.length - 1]! & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const REDIRECT_URI = 'http://127.0.0.1/zt-test-callback';

function browserFor(issuer: string, creds: Credentials, username: string): Browser {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      signal: AbortSignal.timeout(15_000),
    });
    for (const c of res.headers.getSetCookie()) {
      const nv = c.split(';')[0]!;
      const i = nv.indexOf('=');
      if (nv.slice(i + 1) === '') jar.delete(nv.slice(0, i));
      else jar.set(nv.slice(0, i), nv.slice(i + 1));
    }
    return res;
  };
  return {
    async authorize({ acrValues, scope = 'openid' }) {
      const q = new URLSearchParams({
        client_id: 'orders-portal',
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope,
        ...(acrValues ? { acr_values: acrValues } : {}),
      });
      let res = await go(`${issuer}/protocol/openid-connect/auth?${q}`);
      const forms: string[] = [];
      // At most: the login form, the OTP form (each answered once; a form shown again is a failure).
      for (let step = 0; res.status === 200 && step < 3; step++) {
        const html = await res.text();
        const form = html.match(/<form\b[^>]*\bid="([^"]+)"/)?.[1] ?? '?';
        const action = html.match(/<form\b[^>]*\baction="([^"]+)"/)?.[1]?.replace(/&amp;/g, '&');
        if (!action || forms.includes(form))
          throw new Error(`Keycloak login: unexpected page (form ${form}) after ${forms.join(', ') || 'nothing'}`);
        forms.push(form);
        let fields: Record<string, string>;
        if (form === 'kc-form-login') fields = { username, password: creds.users[username] ?? '' };
        else if (form === 'kc-otp-login-form') fields = { otp: totp(creds.totp[username] ?? '') };
        else throw new Error(`Keycloak login: unknown form ${form}`);
        res = await go(action, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields),
        });
      }
      const location = res.headers.get('location') ?? '';
      const code = location.startsWith(REDIRECT_URI) ? new URL(location).searchParams.get('code') : null;
      if (res.status !== 302 || !code)
        throw new Error(
          `Keycloak login: no code (HTTP ${res.status}, forms ${forms.join(', ')}, ${new URL(location || 'x:').searchParams.get('error') ?? ''})`,
        );
      const basic = Buffer.from(`orders-portal:${encodeURIComponent(creds.clients['orders-portal'])}`).toString('base64');
      const tok = await fetch(`${issuer}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await tok.json()) as { access_token?: string; id_token?: string; refresh_token?: string; error?: string };
      for (const t of [body.access_token, body.id_token, body.refresh_token]) if (t) registerToken(t);
      if (!body.access_token) throw new Error(`Keycloak code exchange: HTTP ${tok.status} ${body.error ?? ''}`);
      return { token: body.access_token, forms };
    },
  };
}

/** A token's `kid` header. */
export const kidOf = (token: string): string => String(decodeProtectedHeader(token).kid);

/** `zt-authz serve` as its own process with `yaml` as its configuration, ready once /readyz is OK. */
export async function startZtAuthz(
  dir: string,
  yaml: (ports: { grpc: number; admin: number; http: number }) => string,
): Promise<{ proc: Proc; grpc: number; admin: number; http: number }> {
  // Every listener on its own free port (the HTTP transport's default, 9192, may be taken).
  const ports = { grpc: await freePort(), admin: await freePort(), http: await freePort() };
  const cfg = join(dir, `zt-authz-${ports.grpc}.yaml`);
  writeFileSync(cfg, yaml(ports));
  const proc = startProc('zt-authz', process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'serve', '--config', cfg]);
  try {
    await waitForHttp(`http://127.0.0.1:${ports.admin}/readyz`, proc, 30_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { proc, ...ports };
}
