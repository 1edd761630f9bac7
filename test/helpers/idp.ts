// A real node:http identity provider for tests: serves a JWKS and an OIDC discovery document on
// 127.0.0.1:<ephemeral>, counts fetches, can be slowed down, switched down (503 / reset sockets)
// or into a fault mode (5xx, garbage, HTML, oversize, stalled body, empty set), and rotates/adds
// keys, including keys published with the wrong `use`/`alg`. `sign()` mints JWTs with sensible
// defaults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createPublicKey } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTHeaderParameters } from 'jose';
import { registerPrivateKey, registerToken } from './capture.js';

export type TestAlg = 'RS256' | 'RS512' | 'ES256';

export interface TestKey {
  kid: string;
  alg: TestAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK with kid/alg/use, as published in the JWKS. */
  jwk: JWK;
}

/** A fresh extractable key pair (not published anywhere). */
export async function generateTestKey(kid: string, alg: TestAlg = 'RS256'): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  registerPrivateKey(privateKey); // log hygiene: test/helpers/capture.ts
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

/** SPKI PEM of a public JWK (what an attacker feeds as an HMAC secret in alg confusion). */
export function publicKeyPem(jwk: JWK): string {
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}

export function base64url(input: string | Uint8Array): string {
  return Buffer.from(input).toString('base64url');
}

/** Compact JWS with an arbitrary header/payload and a literal signature segment (e.g. alg none). */
export function craftToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${signature}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * How the IdP answers (every path: JWKS and discovery).
 * - 'up': normally. '503' / '500' / '502': that status with a text body. 'destroy': reset the
 *   connection without an answer.
 * - Body faults, status 200: 'garbage' (application/json that does not parse), 'html' (an HTML
 *   page, as a captive portal or a misrouted load balancer sends), 'empty' (`{"keys": []}` for the
 *   JWKS), 'oversize' (the real document padded with JSON whitespace to `oversizeBytes`, with a
 *   content-length), 'oversize-chunked' (the same streamed without content-length), 'stall'
 *   (headers and the first bytes, then nothing until the IdP closes).
 */
export type IdpMode = 'up' | '503' | 'destroy' | '500' | '502' | 'garbage' | 'html' | 'empty' | 'oversize' | 'oversize-chunked' | 'stall';

const STATUS_MODES: Partial<Record<IdpMode, number>> = { '503': 503, '500': 500, '502': 502 };

export interface IdpOptions {
  /** `iss` value. Default: the IdP's own base URL (so OIDC discovery works). */
  issuer?: string;
  /** Default `aud` for sign(). */
  audience?: string | string[];
  /** Default `sub` for sign(). */
  subject?: string;
  /**
   * Keys published at start: generated from {kid, alg}, or pre-generated TestKeys (published as
   * a copy, so setKeyParams on one IdP never leaks into another). Default: [{kid:'rs1', alg:'RS256'}].
   */
  keys?: Array<{ kid: string; alg?: TestAlg } | TestKey>;
  /** Delay (ms) before answering JWKS requests. */
  jwksDelayMs?: number;
  /** Initial mode (default 'up'), e.g. to be down from the very first fetch. */
  mode?: IdpMode;
  /** Only the first JWKS response is delayed. */
  delayFirstOnly?: boolean;
  /**
   * Hold JWKS responses until releaseJwks() (deterministic "keys still loading"): every one
   * (`true`) or only the first request (`'first'`).
   */
  holdJwks?: boolean | 'first';
}

export interface SignOptions {
  /** kid header; defaults to the key's kid. `null` omits the kid. */
  kid?: string | null;
  /** alg header; defaults to the key's alg. */
  alg?: string;
  /** Extra protected-header parameters (merged last). */
  header?: Record<string, unknown>;
  /** Signing key: a published kid, a TestKey, or raw key material (CryptoKey / HMAC secret bytes). */
  key?: string | TestKey | CryptoKey | Uint8Array;
}

/**
 * Claims for sign(): defaults are iss, sub, aud, iat = now, exp = now + 300. A claim set to
 * `undefined` is omitted (e.g. `{ exp: undefined }` for a token without exp).
 */
export type ClaimsInput = Record<string, unknown>;

export class TestIdp {
  readonly keys: TestKey[] = [];
  mode: IdpMode = 'up';
  jwksDelayMs: number;
  delayFirstOnly: boolean;
  /** Number of JWKS requests received (including failed/delayed ones). */
  jwksFetches = 0;
  /** Body size in 'oversize' modes (default just over the 1 MiB jwksMaxBytes default). */
  oversizeBytes = 1024 * 1024 + 1024;
  discoveryFetches = 0;
  issuer = '';
  baseUrl = '';
  readonly audience: string | string[];
  readonly subject: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private held: Array<() => void> | null = null;
  private holdFirstOnly: boolean;

  private constructor(opts: IdpOptions) {
    this.jwksDelayMs = opts.jwksDelayMs ?? 0;
    this.mode = opts.mode ?? 'up';
    this.delayFirstOnly = opts.delayFirstOnly ?? false;
    if (opts.holdJwks) this.held = [];
    this.holdFirstOnly = opts.holdJwks === 'first';
    this.audience = opts.audience ?? 'orders';
    this.subject = opts.subject ?? 'alice';
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: IdpOptions = {}): Promise<TestIdp> {
    const idp = new TestIdp(opts);
    for (const k of opts.keys ?? [{ kid: 'rs1', alg: 'RS256' as const }]) {
      idp.keys.push(isTestKey(k) ? copyKey(k) : await generateTestKey(k.kid, k.alg ?? 'RS256'));
    }
    await new Promise<void>((resolve) => idp.server.listen(0, '127.0.0.1', resolve));
    idp.baseUrl = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}`;
    idp.issuer = opts.issuer ?? idp.baseUrl;
    return idp;
  }

  get jwksUri(): string {
    return `${this.baseUrl}/jwks.json`;
  }

  get discoveryUri(): string {
    return `${this.baseUrl}/.well-known/openid-configuration`;
  }

  /** The published JWK Set. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => ({ ...k.jwk })) };
  }

  key(kid: string): TestKey {
    const k = this.keys.find((x) => x.kid === kid);
    if (!k) throw new Error(`test IdP has no key ${kid}`);
    return k;
  }

  /**
   * Publish an additional key (new kid, or a copy of a pre-generated TestKey); returns it.
   * `params` overrides published JWK members (e.g. `{ use: 'enc' }`; `undefined` removes one).
   */
  async addKey(kid: string | TestKey, alg: TestAlg = 'RS256', params: Record<string, unknown> = {}): Promise<TestKey> {
    const k = typeof kid === 'string' ? await generateTestKey(kid, alg) : copyKey(kid);
    this.keys.push(k);
    this.setKeyParams(k.kid, params);
    return k;
  }

  /** Change members of a published key's JWK (`undefined` removes one); the private key stays. */
  setKeyParams(kid: string, params: Record<string, unknown>): void {
    const jwk = this.key(kid).jwk as Record<string, unknown>;
    for (const [name, value] of Object.entries(params)) {
      if (value === undefined) delete jwk[name];
      else jwk[name] = value;
    }
  }

  /** Replace every published key by one new key (or a copy of a pre-generated one). Returns it. */
  async rotate(kid: string | TestKey, alg: TestAlg = 'RS256'): Promise<TestKey> {
    const k = typeof kid === 'string' ? await generateTestKey(kid, alg) : copyKey(kid);
    this.keys.splice(0, this.keys.length, k);
    return k;
  }

  removeKey(kid: string): void {
    const i = this.keys.findIndex((k) => k.kid === kid);
    if (i >= 0) this.keys.splice(i, 1);
  }

  /** Switch how requests are answered (see IdpMode); 'destroy' also resets open connections. */
  setMode(mode: IdpMode): void {
    this.mode = mode;
    if (mode === 'destroy') for (const s of this.sockets) s.destroy();
  }

  async sign(claims: ClaimsInput = {}, opts: SignOptions = {}): Promise<string> {
    let keyMaterial: CryptoKey | Uint8Array;
    let defaultKid: string | undefined;
    let defaultAlg: string;
    const k = opts.key;
    if (k === undefined || typeof k === 'string') {
      const tk = k === undefined ? this.keys[0] : this.key(k);
      if (!tk) throw new Error('test IdP has no keys to sign with');
      keyMaterial = tk.privateKey;
      defaultKid = tk.kid;
      defaultAlg = tk.alg;
    } else if (isTestKey(k)) {
      keyMaterial = k.privateKey;
      defaultKid = k.kid;
      defaultAlg = k.alg;
    } else {
      keyMaterial = k;
      defaultAlg = k instanceof Uint8Array ? 'HS256' : 'RS256';
    }
    const header: Record<string, unknown> = { alg: opts.alg ?? defaultAlg, typ: 'JWT' };
    const kid = opts.kid === undefined ? defaultKid : opts.kid;
    if (kid !== null && kid !== undefined) header.kid = kid;
    Object.assign(header, opts.header ?? {});
    const now = nowSeconds();
    const payload: Record<string, unknown> = { iss: this.issuer, sub: this.subject, aud: this.audience, iat: now, exp: now + 300 };
    for (const [name, value] of Object.entries(claims)) {
      if (value === undefined) delete payload[name];
      else payload[name] = value;
    }
    return registerToken(await new SignJWT(payload).setProtectedHeader(header as JWTHeaderParameters).sign(keyMaterial), keyMaterial); // log hygiene: test/helpers/capture.ts
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await done;
  }

  // -------------------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const isJwks = path === '/jwks.json';
    if (isJwks) this.jwksFetches++;
    else if (path === '/.well-known/openid-configuration') this.discoveryFetches++;
    if (this.mode === 'destroy') {
      req.socket.destroy();
      return;
    }
    const status = STATUS_MODES[this.mode];
    if (status !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    if (isJwks) {
      const delay = this.delayFirstOnly ? (this.jwksFetches === 1 ? this.jwksDelayMs : 0) : this.jwksDelayMs;
      // Snapshot the key set now: a rotation during the delay is served on the next fetch.
      const body = this.jwks();
      if (this.held && (!this.holdFirstOnly || this.jwksFetches === 1)) this.held.push(() => this.json(res, body));
      else if (delay > 0) this.later(delay, () => this.json(res, body));
      else this.json(res, body);
      return;
    }
    if (path === '/.well-known/openid-configuration') {
      this.json(res, { issuer: this.issuer, jwks_uri: this.jwksUri, id_token_signing_alg_values_supported: ['RS256', 'ES256'] });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }

  /** From now on hold every JWKS response until releaseJwks() (like the holdJwks option). */
  holdJwks(): void {
    this.held ??= [];
    this.holdFirstOnly = false;
  }

  /** Answer the JWKS requests held so far (holdJwks) and stop holding new ones. */
  releaseJwks(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const send of held) send();
  }

  /** Answer with `body` as JSON, distorted by the body-fault mode in force when it is sent. */
  private json(res: ServerResponse, body: unknown): void {
    if (res.destroyed || res.writableEnded) return;
    const mode = this.mode;
    if (mode === 'empty' && isPlainRecord(body) && 'keys' in body) body = { keys: [] };
    let s = JSON.stringify(body);
    switch (mode) {
      case 'garbage':
        s = s.slice(0, Math.max(1, Math.floor(s.length / 2))); // truncated: never parses
        break;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body><h1>Service Unavailable</h1></body></html>');
        return;
      case 'oversize':
      case 'oversize-chunked':
        s += ' '.repeat(Math.max(0, this.oversizeBytes - Buffer.byteLength(s))); // still valid JSON
        break;
      case 'stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(s.slice(0, 8)); // the rest never comes (close() resets the socket)
        return;
    }
    if (mode === 'oversize-chunked') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const buf = Buffer.from(s);
      for (let off = 0; off < buf.length; off += 64 * 1024) res.write(buf.subarray(off, off + 64 * 1024));
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Same key pair, own copy of the published JWK. */
function copyKey(k: TestKey): TestKey {
  return { ...k, jwk: { ...k.jwk } };
}

function isTestKey(k: unknown): k is TestKey {
  return typeof k === 'object' && k !== null && 'privateKey' in k && 'jwk' in k;
}
