// Where a JWKS document comes from: an HTTP(S) jwks_uri, OIDC discovery, a Kubernetes API server's
// service-account issuer, a file, the inline set, or a pushed Secret update. Every load is
// bounded: `AbortSignal.timeout(timeoutMs)` per HTTP request (covers the body too), the body
// streamed with a byte cap, redirects never followed, files read up to the same cap. Errors are
// JwksFetchError with a message that never holds key material or response body text.
import { open, type FileHandle } from 'node:fs/promises';
import { JwksFetchError } from './errors.js';
import { isPlainObject } from './key-validation.js';
import type { JwksFetch, JwksFetchEvent, JwksPush, JwksSource } from './options.js';

const ACCEPT_JWKS = 'application/jwk-set+json, application/json';
const ACCEPT_DISCOVERY = 'application/json';

/** `s` as an http(s) URL; TypeError (a misconfigured source) otherwise. */
export function httpUrl(s: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new TypeError(`${what} is not a valid URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError(`${what} must be an http(s) URL`);
  return u;
}

/** Throws TypeError when a source cannot work at all (a bad URL, an empty path or name). */
export function checkSource(src: JwksSource | undefined): void {
  switch (src?.kind) {
    case 'inline':
      break; // validated as a key set by the manager
    case 'remote':
      httpUrl(src.uri, 'JWKS uri');
      break;
    case 'discovery':
      httpUrl(src.issuer, 'discovery issuer');
      break;
    case 'kubernetes':
      httpUrl(src.apiServer, 'kubernetes apiServer');
      break;
    case 'file':
      if (typeof src.path !== 'string' || src.path === '') throw new TypeError('JWKS file path must be a non-empty string');
      break;
    case 'secret':
      for (const f of ['name', 'key'] as const) {
        if (typeof src[f] !== 'string' || src[f] === '') throw new TypeError(`JWKS secret ${f} must be a non-empty string`);
      }
      break;
    default:
      throw new TypeError('JwksOptions.source.kind must be one of remote, discovery, inline, file, kubernetes, secret');
  }
}

/**
 * Why a load failed, in words safe to log. Network failures are told apart by the platform's own
 * error names (fetch's DOMException TimeoutError/AbortError, undici's cause codes): those are the
 * only stable marks they carry.
 */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof JwksFetchError) return err.message;
  const e = err as { name?: unknown; cause?: unknown; message?: unknown };
  if (e?.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  const cause = e?.cause as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  if (cause?.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  const cmsg = typeof cause?.message === 'string' ? cause.message : '';
  if (/redirect/i.test(cmsg)) return 'redirect not allowed';
  if (typeof cause?.code === 'string') return `network error (${cause.code})`;
  return 'network error';
}

/** The JSON document of one pushed update (a Kubernetes Secret's data key), or JwksFetchError. */
export function parsePushedDocument(update: JwksPush, maxBytes: number): unknown {
  if (update.kind === 'error') throw new JwksFetchError(update.error);
  if (update.bytes.byteLength > maxBytes) throw new JwksFetchError(`body exceeds ${maxBytes} bytes`);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(update.bytes)) as unknown;
  } catch {
    throw new JwksFetchError('invalid JSON');
  }
}

/** Loads the raw JWKS document of one fetched source; remembers the jwks_uri discovery found. */
export class JwksSourceLoader {
  private discoveredJwksUri: string | undefined;

  constructor(
    private readonly source: JwksSource,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly fetchImpl: JwksFetch,
  ) {}

  /** Load the raw JWKS document from the configured source. */
  async load(trigger: JwksFetchEvent['trigger']): Promise<unknown> {
    const src = this.source;
    switch (src.kind) {
      case 'remote':
        return this.fetchJson(src.uri, ACCEPT_JWKS, 'JWKS fetch failed');
      case 'file':
        return this.readFileJson(src.path);
      case 'discovery':
        return this.loadViaDiscovery(src.issuer, trigger);
      case 'kubernetes': {
        const base = src.apiServer.replace(/\/+$/, '');
        await this.discover(src.issuer, base);
        return this.fetchJson(`${base}/openid/v1/jwks`, ACCEPT_JWKS, 'JWKS fetch failed');
      }
      case 'inline':
        return src.jwks;
      case 'secret':
        throw new JwksFetchError('JWKS Secret: pushed by a watch, never fetched'); // refresh() never gets here
    }
  }

  private async loadViaDiscovery(issuer: string, trigger: JwksFetchEvent['trigger']): Promise<unknown> {
    const cached = this.discoveredJwksUri;
    if (cached === undefined || trigger !== 'unknown_kid') {
      // Re-discover on first use and on every scheduled/initial/manual refresh. If discovery
      // fails but a previously validated jwks_uri is cached, fall back to it.
      let uri: string;
      try {
        uri = await this.discover(issuer);
      } catch (err) {
        if (cached === undefined) throw err;
        uri = cached;
      }
      this.discoveredJwksUri = uri;
      return this.fetchJson(uri, ACCEPT_JWKS, 'JWKS fetch failed');
    }
    try {
      return await this.fetchJson(cached, ACCEPT_JWKS, 'JWKS fetch failed');
    } catch (err) {
      // The JWKS fetch failed: re-discover; if jwks_uri moved, follow it once.
      const uri = await this.discover(issuer).catch(() => undefined);
      if (uri === undefined || uri === cached) throw err;
      this.discoveredJwksUri = uri;
      return this.fetchJson(uri, ACCEPT_JWKS, 'JWKS fetch failed');
    }
  }

  private async discover(issuer: string, base = issuer): Promise<string> {
    const url = base.replace(/\/+$/, '') + '/.well-known/openid-configuration';
    const doc = await this.fetchJson(url, ACCEPT_DISCOVERY, 'discovery fetch failed');
    if (!isPlainObject(doc)) throw new JwksFetchError('discovery document is not a JSON object');
    // OIDC Discovery 1.0 §4.3: the returned issuer MUST be identical to the configured one.
    if (doc.issuer !== issuer) {
      // A cluster names its own service-account issuer (public information): say which, so the
      // operator can fix `issuers[].issuer`.
      if (this.source.kind === 'kubernetes' && typeof doc.issuer === 'string' && doc.issuer.length < 512) {
        throw new JwksFetchError(`discovery issuer mismatch: the cluster's service-account issuer is ${JSON.stringify(doc.issuer)}`);
      }
      throw new JwksFetchError('discovery issuer mismatch');
    }
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string') throw new JwksFetchError('discovery jwks_uri missing');
    let u: URL;
    try {
      u = httpUrl(jwksUri, 'jwks_uri');
    } catch {
      throw new JwksFetchError('discovery jwks_uri is not an http(s) URL');
    }
    // No scheme downgrade: an https issuer must publish an https jwks_uri.
    if (new URL(issuer).protocol === 'https:' && u.protocol !== 'https:') {
      throw new JwksFetchError('discovery jwks_uri must be https for an https issuer');
    }
    return u.href;
  }

  /** GET url with timeout, no redirects, 200-only and a streamed byte cap; returns parsed JSON. */
  private async fetchJson(url: string, accept: string, label: string): Promise<unknown> {
    const fail = (msg: string): JwksFetchError => new JwksFetchError(`${label}: ${msg}`);
    let text: string;
    try {
      const res = await this.fetchImpl(url, {
        method: 'GET',
        headers: { accept },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > this.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      const bytes = await this.readCapped(res, fail);
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw fail('invalid JSON');
      }
    } catch (err) {
      if (err instanceof JwksFetchError) throw err;
      throw fail(describeFetchError(err, this.timeoutMs));
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw fail('invalid JSON');
    }
  }

  private async readCapped(res: Response, fail: (m: string) => JwksFetchError): Promise<Uint8Array> {
    if (!res.body) return new Uint8Array(0);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > this.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  private async readFileJson(path: string): Promise<unknown> {
    const fail = (msg: string): JwksFetchError => new JwksFetchError(`JWKS file read failed: ${msg}`);
    let buf: Buffer;
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (!st.isFile()) throw fail('not a regular file');
      if (st.size > this.maxBytes) throw fail(`body exceeds ${this.maxBytes} bytes`);
      buf = Buffer.alloc(this.maxBytes + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > this.maxBytes) throw fail(`body exceeds ${this.maxBytes} bytes`);
      }
      buf = buf.subarray(0, n);
    } catch (err) {
      if (err instanceof JwksFetchError) throw err;
      const code = (err as { code?: unknown })?.code;
      throw fail(typeof code === 'string' ? code : 'I/O error');
    } finally {
      await fh?.close().catch(() => undefined);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      return JSON.parse(text) as unknown;
    } catch {
      throw fail('invalid JSON');
    }
  }
}
