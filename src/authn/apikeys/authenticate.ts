// API keys on the request path: find the key where a source looks for it (the same strict rules
// as tokens, src/authn/credentials.ts: exactly one credential, no comma-joined header values, no
// repeated or look-alike query parameter), hash it, look the hash up, and turn the entry into the
// Identity policies read, so `requestPrincipals: ["apikey:partners/*"]` and `when` on
// request.auth.claims / scopes / roles work as they do for JWTs. A key that is presented but not
// valid always fails (401): it is never treated as anonymous.
import { hash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { ResolvedApiKeySource } from '../../config/apikeys-schema.js';
import type { AuthResult, CheckInput, CredentialLocation, Identity } from '../../decision/types.js';
import { credentialLocations, type LocationSpec } from '../credentials.js';
import type { ApiKeyStore, HeldKey } from './store.js';

/** Structurally the revocation list's check (src/authn/revocation/): an API key by the hex SHA-256 of the whole key. */
export interface ApiKeyRevocation {
  readonly empty: boolean;
  apiKeyRevoked(sha256Hex: string): boolean;
}

export interface ApiKeyAuthenticatorOptions {
  maxKeyBytes: number;
  /** authorization.rolesClaim: a key's roles are put at this claim, where request.auth.roles reads them. */
  rolesClaim: string;
  now?: () => number;
}

/** Printable ASCII without space or comma: what a generated key (and any sane key) is made of. */
const KEY_CHARS = /^[\x21-\x2b\x2d-\x7e]+$/;

interface SourceRuntime {
  cfg: ResolvedApiKeySource;
  store: ApiKeyStore;
}

interface Presented {
  raw: string;
  location: CredentialLocation;
  source: SourceRuntime;
  prefixes?: readonly string[];
  /** A parameter name that is a configured one only once decoded or case-folded. */
  lookalike?: string;
}

export class ApiKeyAuthenticator {
  /** Where any source looks for keys (observe mode strips these from requests it lets through). */
  readonly locations: LocationSpec;
  private readonly byHeader = new Map<string, SourceRuntime>();
  private readonly byParam = new Map<string, SourceRuntime>();
  private readonly now: () => number;
  /** One Identity per entry (entries are immutable): a request allocates none. */
  private readonly identities = new WeakMap<HeldKey['entry'], Identity>();

  constructor(
    sources: readonly ResolvedApiKeySource[],
    stores: ReadonlyMap<string, ApiKeyStore>,
    private readonly opts: ApiKeyAuthenticatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const headers = new Map<string, string[]>();
    for (const cfg of sources) {
      const store = stores.get(cfg.name);
      if (!store) throw new Error(`no key store for API-key source ${cfg.name}`);
      const rt = { cfg, store };
      for (const h of cfg.fromHeaders) {
        const list = headers.get(h.name) ?? [];
        if (!list.includes(h.prefix)) list.push(h.prefix);
        list.sort((a, b) => b.length - a.length);
        headers.set(h.name, list);
        this.byHeader.set(h.name, rt);
      }
      for (const p of cfg.fromParams) this.byParam.set(p, rt);
    }
    this.locations = { headers, params: new Set(this.byParam.keys()), cookies: new Set() };
  }

  get sourceCount(): number {
    return new Set([...this.byHeader.values(), ...this.byParam.values()]).size;
  }

  /**
   * The result for a request presenting an API key; undefined when it presents none (then the
   * token path decides). A key together with a token is `token_multiple`: which identity the
   * request acts as would otherwise depend on zt-authz's order of checks.
   */
  authenticate(input: CheckInput, tokenLocations: LocationSpec, revocation?: ApiKeyRevocation): AuthResult | undefined {
    const found = this.collect(input);
    if (found.length === 0) return undefined;
    const like = found.find((f) => f.lookalike !== undefined);
    if (like) {
      return {
        kind: 'failed',
        reason: 'apikey_malformed',
        detail: `a param name is an encoded or case variant of param ${like.lookalike}; only the exact name is accepted (the proxy removes credentials by exact name)`,
      };
    }
    const tokens = credentialLocations(input, tokenLocations);
    if (found.length > 1 || tokens.length > 0) {
      const all = [...found.map((f) => f.location), ...tokens];
      return {
        kind: 'failed',
        reason: 'token_multiple',
        detail: `credentials found in ${all.map((l) => `${l.type} ${l.name}`).join(', ')}`,
      };
    }
    const only = found[0]!;
    const where = `${only.location.type} ${only.location.name}`;
    let key = only.raw;
    if (only.prefixes) {
      if (key.includes(',')) return { kind: 'failed', reason: 'token_multiple', detail: `${where} holds more than one value` };
      const prefix = only.prefixes.find((p) => key.startsWith(p));
      if (prefix === undefined)
        return { kind: 'failed', reason: 'apikey_malformed', detail: `${where} does not start with an accepted prefix` };
      key = key.slice(prefix.length);
    }
    if (key.length > this.opts.maxKeyBytes) {
      return { kind: 'failed', reason: 'token_too_large', detail: `API key is ${key.length} bytes, limit ${this.opts.maxKeyBytes}` };
    }
    if (!KEY_CHARS.test(key)) {
      return { kind: 'failed', reason: 'apikey_malformed', detail: `${where} is empty or holds a space, comma or non-ASCII character` };
    }
    return this.lookup(key, only, revocation);
  }

  private lookup(key: string, p: Presented, revocation: ApiKeyRevocation | undefined): AuthResult {
    const digest = hash('sha256', key, 'binary');
    const tokenHash = Buffer.from(digest.slice(0, 6), 'latin1').toString('hex');
    const source = p.source.cfg.name;
    const held = p.source.store.lookup(digest);
    if (!held) return { kind: 'failed', reason: 'apikey_unknown', detail: `no key of API-key source ${source} has this hash`, tokenHash };
    const { entry } = held;
    if (entry.expiresAt !== undefined && this.now() >= entry.expiresAt) {
      return {
        kind: 'failed',
        reason: 'apikey_expired',
        detail: `API key ${entry.name} of source ${source} expired at ${new Date(entry.expiresAt).toISOString()}`,
        tokenHash,
      };
    }
    if (revocation && !revocation.empty && revocation.apiKeyRevoked(entry.sha256)) {
      return { kind: 'failed', reason: 'token_revoked', detail: `API key ${entry.name} of source ${source} is revoked`, tokenHash };
    }
    return {
      kind: 'authenticated',
      identity: this.identity(held, source, tokenHash),
      location: p.location,
      forwardToken: false,
      claimHeaders: [],
    };
  }

  private identity(held: HeldKey, source: string, tokenHash: string): Identity {
    const cached = this.identities.get(held.entry);
    if (cached) return cached;
    const { entry } = held;
    const issuer = `apikey:${source}`;
    const claims: JWTPayload = { ...entry.claims, iss: issuer, sub: entry.subject, scope: [...entry.scopes] };
    if (entry.roles.length) claims[this.opts.rolesClaim] = [...entry.roles];
    // The key's expiry as the JWT `exp` it stands for: a minted internal token (src/mint/) never
    // outlives its credential, and it reads that from `exp`.
    if (entry.expiresAt !== undefined) {
      const exp = Math.floor(entry.expiresAt / 1000);
      claims.exp = typeof claims.exp === 'number' ? Math.min(claims.exp, exp) : exp;
    }
    const identity: Identity = Object.freeze({
      issuer,
      subject: entry.subject,
      requestPrincipal: `${issuer}/${entry.subject}`,
      audiences: [],
      scopes: [...entry.scopes],
      claims: Object.freeze(claims),
      tokenHash,
      apiKey: entry.name,
    });
    this.identities.set(entry, identity);
    return identity;
  }

  private collect(input: CheckInput): Presented[] {
    const found: Presented[] = [];
    for (const [name, source] of this.byHeader) {
      const value = input.headers[name];
      if (value !== undefined)
        found.push({ raw: value, location: { type: 'header', name }, source, prefixes: this.locations.headers.get(name)! });
    }
    if (this.byParam.size > 0 && input.query) {
      for (const part of input.query.split('&')) {
        if (!part) continue;
        const eq = part.indexOf('=');
        const name = eq < 0 ? part : part.slice(0, eq);
        const value = safeDecode(eq < 0 ? '' : part.slice(eq + 1));
        const source = this.byParam.get(name);
        if (source) found.push({ raw: value, location: { type: 'param', name }, source });
        else {
          const like = this.lookalike(safeDecode(name));
          if (like) found.push({ raw: value, location: { type: 'param', name }, source: like[1], lookalike: like[0] });
        }
      }
    }
    return found;
  }

  /** The configured parameter a name reads as once decoded or case-folded (see credentials.ts, Found.lookalike). */
  private lookalike(decoded: string): [string, SourceRuntime] | undefined {
    const exact = this.byParam.get(decoded);
    if (exact) return [decoded, exact];
    const folded = decoded.toLowerCase();
    for (const [n, s] of this.byParam) if (n.toLowerCase() === folded) return [n, s];
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
