// One issuer's RFC 7662 introspection client: asks the endpoint whether an opaque token is
// active, with client_secret_basic. Kept across reloads with the issuer's key resolver
// (key-resolvers.ts), so its cache survives a reload that leaves the issuer unchanged.
//
// Fail closed: an endpoint that is down, slow (timeoutMs), answers anything but 200 with a JSON
// object holding a boolean `active`, or more than maxResponseBytes, gives `unavailable`, never an
// active result. Unavailable results are not cached: the next request asks again. The cache is
// keyed by the SHA-256 of the token (the caller's digest); the token itself is held only for the
// duration of the call that sends it.
import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { ResolvedIntrospection } from '../../config/types.js';
import { watchFiles, type FileWatch } from '../../config/file-watch.js';
import { KeyError, ProtocolError } from '../../errors.js';
import { describeFetchError } from '../jwks/sources.js';

export type IntrospectionOutcome =
  /** `claims`: the response's members; `until`: epoch ms this result may be reused until. */
  | { kind: 'active'; claims: Readonly<Record<string, unknown>>; until: number }
  | { kind: 'inactive'; until: number }
  | { kind: 'unavailable'; detail: string };

export type IntrospectionFetch = (url: string, init: RequestInit) => Promise<Response>;

export interface IntrospectorOptions {
  fetch?: IntrospectionFetch;
  now?: () => number;
  /** A call failed (endpoint down, slow, garbage, overloaded). The detail never holds the token or secret. */
  onUnavailable?: (detail: string) => void;
  /** How the client secret file is watched (default: 100 ms debounce, polled every 10 s). */
  watch?: { debounceMs: number; pollSeconds: number };
}

/** Cached results per issuer: bounded so a flood of distinct random tokens cannot grow memory. */
const MAX_CACHED = 50_000;

export class Introspector {
  private readonly cache = new LRUCache<string, Exclude<IntrospectionOutcome, { kind: 'unavailable' }>>({ max: MAX_CACHED });
  /** Singleflight: concurrent checks of one token share one call. */
  private readonly pending = new Map<string, Promise<IntrospectionOutcome>>();
  private inFlight = 0;
  private secret: string;
  private endpoint: string | undefined;
  private discovering: Promise<string> | undefined;
  private watch: FileWatch | undefined;
  private stopped = false;
  private readonly fetchImpl: IntrospectionFetch;
  private readonly now: () => number;

  /** Reads the client secret file now; throws a KeyError when it cannot be read or is empty. */
  constructor(
    private readonly issuer: string,
    private readonly cfg: ResolvedIntrospection,
    private readonly opts: IntrospectorOptions = {},
  ) {
    this.fetchImpl = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
    this.endpoint = cfg.endpoint;
    const secret = this.readSecret();
    if (typeof secret !== 'string') throw new KeyError(`issuer ${issuer}: introspection ${secret.problem}`);
    this.secret = secret;
  }

  start(): void {
    if (this.watch || this.stopped) return;
    const w = this.opts.watch ?? { debounceMs: 100, pollSeconds: 10 };
    this.watch = watchFiles([this.cfg.clientSecretFile], {
      ...w,
      namedOnly: true,
      onChange: () => this.recheck(),
      // Polling still re-reads the file; a watch error changes nothing that matters here.
      onWatchError: () => undefined,
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    this.watch = undefined;
  }

  /**
   * Re-read the client secret. An unreadable or emptied file keeps the last good secret: the
   * secret only authenticates zt-authz to the IdP (which decides whether it is still valid), so
   * holding it through a Secret volume swap costs nothing and keeps introspection working.
   */
  recheck(): void {
    const s = this.readSecret();
    if (typeof s === 'string') this.secret = s;
    else this.opts.onUnavailable?.(`introspection ${s.problem}; keeping the previous secret`);
  }

  /** A cached result still valid now, if any (synchronous: the cached path never awaits). */
  cached(digest: string): IntrospectionOutcome | undefined {
    const hit = this.cache.get(digest);
    if (!hit) return undefined;
    if (this.now() < hit.until) return hit;
    this.cache.delete(digest);
    return undefined;
  }

  /** The cached result, or one call to the endpoint shared by every concurrent check of this token. */
  introspect(token: string, digest: string): IntrospectionOutcome | Promise<IntrospectionOutcome> {
    const hit = this.cached(digest);
    if (hit) return hit;
    const shared = this.pending.get(digest);
    if (shared) return shared;
    if (this.inFlight >= this.cfg.maxInFlight) {
      return this.unavailable(`${this.cfg.maxInFlight} introspection calls already in flight for this issuer`);
    }
    this.inFlight++;
    const call = this.call(token)
      .then((outcome) => {
        if (outcome.kind === 'unavailable') this.opts.onUnavailable?.(outcome.detail);
        else if (outcome.until > this.now()) this.cache.set(digest, outcome);
        return outcome;
      })
      .finally(() => {
        this.inFlight--;
        this.pending.delete(digest);
      });
    this.pending.set(digest, call);
    return call;
  }

  private unavailable(detail: string): IntrospectionOutcome {
    this.opts.onUnavailable?.(detail);
    return { kind: 'unavailable', detail };
  }

  /** Never rejects: every failure is an `unavailable` outcome. */
  private async call(token: string): Promise<IntrospectionOutcome> {
    let endpoint: string;
    try {
      endpoint = this.endpoint ?? (await this.discover());
    } catch (err) {
      return { kind: 'unavailable', detail: `introspection endpoint discovery failed: ${errorMessage(err)}` };
    }
    const basic = Buffer.from(`${formEncode(this.cfg.clientId)}:${formEncode(this.secret)}`).toString('base64');
    let doc: unknown;
    try {
      doc = await this.postJson(endpoint, new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(), basic);
    } catch (err) {
      return { kind: 'unavailable', detail: `introspection failed: ${errorMessage(err)}` };
    }
    if (!isObject(doc) || typeof doc.active !== 'boolean') {
      return { kind: 'unavailable', detail: 'introspection response is not a JSON object with a boolean "active"' };
    }
    const now = this.now();
    if (!doc.active) return { kind: 'inactive', until: now + this.cfg.negativeCacheSeconds * 1000 };
    let until = now + this.cfg.cacheSeconds * 1000;
    // Never reused past the token's own expiry (a non-number exp is rejected by the claim checks).
    if (typeof doc.exp === 'number') until = Math.min(until, doc.exp * 1000);
    return { kind: 'active', claims: doc, until };
  }

  /** `introspection_endpoint` from the issuer's discovery document; one fetch shared, retried after a failure. */
  private discover(): Promise<string> {
    this.discovering ??= (async () => {
      const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const doc = await this.request(url, { method: 'GET', headers: { accept: 'application/json' } });
      const ep = isObject(doc) ? doc.introspection_endpoint : undefined;
      if (typeof ep !== 'string' || !/^https?:\/\//.test(ep))
        throw new ProtocolError('discovery document has no http(s) introspection_endpoint');
      this.endpoint = ep;
      return ep;
    })().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  private postJson(url: string, body: string, basic: string): Promise<unknown> {
    return this.request(url, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
    });
  }

  /** One HTTP exchange: timeout over the whole exchange, no redirects, 200 only, a streamed byte cap, JSON. */
  private async request(url: string, init: RequestInit): Promise<unknown> {
    const max = this.cfg.maxResponseBytes;
    const signal = AbortSignal.timeout(this.cfg.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { ...init, redirect: 'manual', signal });
    } catch (err) {
      throw new ProtocolError(describeFetchError(err, this.cfg.timeoutMs));
    }
    if (res.status !== 200) {
      void res.body?.cancel().catch(() => undefined);
      throw new ProtocolError(`HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > max) {
      void res.body?.cancel().catch(() => undefined);
      throw new ProtocolError(`response exceeds ${max} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body ?? []) {
        total += (chunk as Uint8Array).byteLength;
        if (total > max) throw new ProtocolError(`response exceeds ${max} bytes`);
        chunks.push(chunk as Uint8Array);
      }
    } catch (err) {
      void res.body?.cancel().catch(() => undefined);
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError(describeFetchError(err, this.cfg.timeoutMs));
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw new ProtocolError('response is not JSON');
    }
  }

  private readSecret(): string | { problem: string } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.cfg.clientSecretFile);
    } catch (err) {
      return {
        problem: `client secret file ${this.cfg.clientSecretFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'I/O error'})`,
      };
    }
    // A trailing newline from `echo > file` is not part of the secret.
    const secret = bytes.toString('utf8').replace(/\r?\n$/, '');
    if (!secret) return { problem: `client secret file ${this.cfg.clientSecretFile} is empty` };
    return secret;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before the Basic encoding. */
function formEncode(s: string): string {
  return new URLSearchParams({ s }).toString().slice(2);
}

/** Our own ProtocolErrors carry messages safe to log; anything else is described, never echoed. */
function errorMessage(err: unknown): string {
  return err instanceof ProtocolError ? err.message : 'unexpected error';
}
