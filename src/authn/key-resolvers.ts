// Build each issuer's KeyResolver: a JWKS manager (remote, discovery, file, inline, kubernetes,
// secret) and/or local HMAC secrets. HS* keys are only ever the configured secrets, never JWKS
// material.
//
// HMAC secrets (hmacSecretFile, or hmacSecretFiles for rotation overlap) are re-read when their
// files change (the directories are watched and polled like the config file, so Kubernetes Secret
// volume swaps are seen) and on every config reload. The held secrets are always exactly the
// usable ones the files hold now: a secret that left its file stops verifying at once (fail
// closed: a file that became unreadable or too short holds no usable secret, it does not keep the
// old one), and the hook tells the authenticator to drop what it cached under a removed secret.
import { createSecretKey, hash, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import type { ResolvedIssuer } from '../config/types.js';
import { watchFiles, type FileWatch } from '../config/file-watch.js';
import { InvalidArgumentError, KeyError } from '../errors.js';
import type { KeyResolver } from './authenticator.js';
import { callObserver } from './call-observer.js';
import { JwksUnavailableError } from './jwks/errors.js';
import { JwksManager } from './jwks/manager.js';
import type { JwksOptions, JwksPushFeed } from './jwks/options.js';
import type { KeyDrop } from './weak-keys.js';
import { kubernetesFetch } from '../k8s/sa-issuer.js';
import { Introspector, type IntrospectorOptions } from './introspection/introspector.js';

/** RFC 7518 §3.2: an HS* key must be at least as long as the hash output. */
export const MIN_HMAC_SECRET_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

export interface IssuerKeys extends KeyResolver {
  readonly jwks: JwksManager | undefined;
  /** Usable HMAC secrets held now; undefined when the issuer has no HMAC secret files. */
  readonly hmacSecrets: number | undefined;
  /** Start background work: JWKS fetches and watching the HMAC secret files. Idempotent. */
  start(): void;
  /** Stop it (a replaced or retired issuer); safe to call twice. */
  stop(): void;
  /** Re-read the HMAC secret files now (a config reload that keeps this issuer's settings). */
  recheck(): void;
}

/** Pushed key sets of `jwksSecret` issuers (src/k8s/secrets.ts, when Kubernetes is enabled). */
export interface SecretKeyFeeds {
  /** Where a jwksSecret without a namespace is: the namespace zt-authz runs in, if known. */
  readonly defaultNamespace: string | undefined;
  feed(ref: { namespace: string; name: string; key: string }): JwksPushFeed;
}

/** The HMAC secrets changed (a file was rotated, added back, emptied...). Counts only, never secrets. */
export interface HmacSecretsChange {
  /** Usable secrets held now. */
  secrets: number;
  added: number;
  /** Secrets no file holds any more: what was verified with them must not stay cached. */
  removed: number;
}

export interface IssuerKeyHooks extends Pick<JwksOptions, 'onFetch' | 'onKeysChanged' | 'onKeysDropped' | 'clock'> {
  secrets?: SecretKeyFeeds;
  /** How the HMAC secret files are watched (default: 100 ms debounce, polled every 10 s). */
  watch?: { debounceMs: number; pollSeconds: number; onWatchError?: (dir: string, message: string) => void };
  onHmacSecretsChanged?: (e: HmacSecretsChange) => void;
  /** An introspection call failed, or the client secret file could not be re-read (safe to log). */
  onIntrospectionUnavailable?: (detail: string) => void;
  /** The introspection endpoint's fetch (tests). */
  introspectionFetch?: IntrospectorOptions['fetch'];
}

export function buildIssuerKeys(cfg: ResolvedIssuer, hooks: IssuerKeyHooks): IssuerKeys {
  const { secrets, watch, onHmacSecretsChanged, onIntrospectionUnavailable, introspectionFetch, ...jwksHooks } = hooks;
  const hmac = cfg.hmacSecretFiles?.length ? new HmacSecrets(cfg, jwksHooks.onKeysDropped, onHmacSecretsChanged) : undefined;
  let src = cfg.keySource;
  // Without a feed (offline `zt-authz check`, tests) a secret-sourced issuer never holds keys:
  // its tokens fail with jwks_unavailable, never verify against anything else.
  let feed: JwksPushFeed | undefined;
  if (src.kind === 'secret' && secrets) {
    const namespace = src.namespace ?? secrets.defaultNamespace;
    if (!namespace) {
      throw new InvalidArgumentError(
        `issuer ${cfg.issuer}: jwksSecret.namespace is not set and the namespace zt-authz runs in is unknown (no POD_NAMESPACE, no namespace in the Kubernetes context)`,
      );
    }
    src = { ...src, namespace };
    feed = secrets.feed({ ...src, namespace });
  }
  const jwks =
    src.kind === 'none'
      ? undefined
      : new JwksManager({
          issuer: cfg.issuer,
          source: src.kind === 'inline' ? { kind: 'inline', jwks: src.jwks } : src,
          refreshIntervalMs: cfg.jwksRefreshSeconds * 1000,
          cooldownMs: cfg.jwksCooldownSeconds * 1000,
          timeoutMs: cfg.jwksTimeoutMs,
          maxBytes: cfg.jwksMaxBytes,
          ...(src.kind === 'kubernetes' ? { fetch: kubernetesFetch(src) } : {}),
          ...(feed ? { feed } : {}),
          ...jwksHooks,
        });
  // Built with the key resolver so it is kept across reloads with it (its cache survives them).
  const introspector = cfg.introspection
    ? new Introspector(cfg.issuer, cfg.introspection, {
        ...(introspectionFetch ? { fetch: introspectionFetch } : {}),
        ...(jwksHooks.clock ? { now: jwksHooks.clock.now.bind(jwksHooks.clock) } : {}),
        ...(onIntrospectionUnavailable ? { onUnavailable: onIntrospectionUnavailable } : {}),
        ...(watch ? { watch: { debounceMs: watch.debounceMs, pollSeconds: watch.pollSeconds } } : {}),
      })
    : undefined;
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg?.startsWith('HS')) {
      if (!hmac) throw new joseErrors.JOSEAlgNotAllowed('HMAC algorithm without a configured secret');
      return hmac.keyFor();
    }
    if (!jwks) throw new joseErrors.JOSEAlgNotAllowed('no JWKS configured');
    return jwks.getKey(header, token);
  };
  return {
    jwks,
    getKey,
    localKeys: jwks !== undefined || hmac !== undefined,
    ...(introspector ? { introspector } : {}),
    get hmacSecrets() {
      return hmac?.count;
    },
    get ready() {
      return (jwks ? jwks.ready : true) && (hmac ? hmac.count > 0 : true);
    },
    start() {
      jwks?.start();
      hmac?.start(watch ?? { debounceMs: 100, pollSeconds: 10 });
      introspector?.start();
    },
    stop() {
      jwks?.stop();
      hmac?.stop();
      introspector?.stop();
    },
    recheck() {
      hmac?.recheck();
      introspector?.recheck();
    },
  };
}

interface HeldSecret {
  /** SHA-256 of the secret: compares secrets across re-reads; never logged or exposed. */
  digest: string;
  key: KeyObject;
}

/** One issuer's HMAC secrets, re-read from their files. */
class HmacSecrets {
  private held: readonly HeldSecret[];
  private readonly minBytes: number;
  private readonly minAlg: string;
  /** The last reported problems (JSON): a bad file is counted once, not on every poll. */
  private reportedDrops = '[]';
  private watch: FileWatch | undefined;
  private stopped = false;

  /** Reads the files now; throws when one is unusable (start-up, or a reload that changed this issuer, fails). */
  constructor(
    private readonly cfg: ResolvedIssuer,
    private readonly onDropped: ((drops: readonly KeyDrop[]) => void) | undefined,
    private readonly onChanged: ((e: HmacSecretsChange) => void) | undefined,
  ) {
    // Every secret must be long enough for every HS* algorithm the issuer allows: a token picks
    // its own alg, so a 32-byte secret with HS512 allowed would be used as a 512-bit key.
    const hs = cfg.algorithms.filter((a) => Object.hasOwn(MIN_HMAC_SECRET_BYTES, a));
    this.minAlg = hs.reduce((a, b) => (MIN_HMAC_SECRET_BYTES[b]! > MIN_HMAC_SECRET_BYTES[a]! ? b : a), 'HS256');
    this.minBytes = MIN_HMAC_SECRET_BYTES[this.minAlg]!;
    const { secrets, problems } = this.read();
    if (problems.length) throw new KeyError(`issuer ${cfg.issuer}: ${problems[0]!.message}`);
    this.held = secrets;
  }

  get count(): number {
    return this.held.length;
  }

  /** The key for an HS* token: the only secret, or all of them for verifyWithJwks to try in turn. */
  keyFor(): KeyObject {
    const held = this.held;
    if (held.length === 1) return held[0]!.key;
    if (held.length === 0) throw new JwksUnavailableError(`no usable HMAC secret for issuer ${JSON.stringify(this.cfg.issuer)}`);
    // verifyWithJwks tries each candidate of a multiple-match (at most 4: hmacSecretFiles maxItems)
    // and moves on only on a signature failure, exactly what a rotation overlap needs.
    const err = new joseErrors.JWKSMultipleMatchingKeys('several HMAC secrets: each is tried');
    // jose hands out its candidates as an async iterable (verifyWithJwks reads them with for await).
    // eslint-disable-next-line @typescript-eslint/require-await -- the secrets are at hand, nothing to await
    (err as unknown as { [Symbol.asyncIterator]: () => AsyncGenerator<KeyObject> })[Symbol.asyncIterator] = async function* () {
      for (const s of held) yield s.key;
    };
    throw err;
  }

  start(o: NonNullable<IssuerKeyHooks['watch']>): void {
    if (this.watch || this.stopped) return;
    this.watch = watchFiles(this.cfg.hmacSecretFiles ?? [], {
      debounceMs: o.debounceMs,
      pollSeconds: o.pollSeconds,
      namedOnly: true,
      onChange: () => this.recheck(),
      onWatchError: (dir, message) => o.onWatchError?.(dir, message),
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    this.watch = undefined;
  }

  /** Re-read the files: hold exactly the usable secrets they hold now; report what changed. */
  recheck(): void {
    if (this.stopped) return;
    const { secrets, problems } = this.read();
    const drops = problems.map((p) => p.drop);
    const dropsJson = JSON.stringify(drops);
    if (dropsJson !== this.reportedDrops) {
      this.reportedDrops = dropsJson;
      if (drops.length) callObserver(() => this.onDropped?.(drops));
    }
    const before = new Set(this.held.map((s) => s.digest));
    const after = new Set(secrets.map((s) => s.digest));
    const removed = [...before].filter((d) => !after.has(d)).length;
    const added = [...after].filter((d) => !before.has(d)).length;
    if (!removed && !added) return;
    this.held = secrets;
    callObserver(() => this.onChanged?.({ secrets: secrets.length, added, removed }));
  }

  private read(): { secrets: HeldSecret[]; problems: Array<{ drop: KeyDrop; message: string }> } {
    const secrets: HeldSecret[] = [];
    const problems: Array<{ drop: KeyDrop; message: string }> = [];
    for (const file of this.cfg.hmacSecretFiles ?? []) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'I/O error';
        problems.push({ drop: { reason: 'hmac_unreadable', file }, message: `HMAC secret file ${file} cannot be read (${code})` });
        continue;
      }
      // Trailing newline from `echo > file` is not part of the secret.
      const secret = bytes.subarray(0, bytes.length - (bytes.at(-1) === 0x0a ? 1 : 0));
      if (secret.length < this.minBytes) {
        problems.push({
          drop: { reason: 'hmac_too_short', file },
          message: `HMAC secret file ${file} holds ${secret.length} bytes, need at least ${this.minBytes} for ${this.minAlg} (RFC 7518 §3.2)`,
        });
        continue;
      }
      const digest = hash('sha256', secret, 'hex');
      if (!secrets.some((s) => s.digest === digest)) secrets.push({ digest, key: createSecretKey(secret) });
    }
    return { secrets, problems };
  }
}
