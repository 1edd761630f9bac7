// The key ring: which of the loaded signing keys signs now, and which are published. Rotation
// must never fail a verification, so:
//  - a key is published in the JWKS as soon as it is loaded, but signs only once it is
//    publishLeadSeconds old, so consumers (whose JWKS caches are shorter than that; our
//    Cache-Control says so) already hold it when the first token it signs arrives;
//  - the newest key past its lead signs; when no key is past it (first start, or every older key
//    removed), the oldest loaded key signs at once rather than minting nothing;
//  - a key whose file (or Secret entry) is gone stops signing at once but stays published until
//    every token it may have signed has expired: max(its last signature here, when it went) +
//    ttlSeconds + clockSkewSeconds. The skew also covers replicas that notice the removal later.
//
// A key's age comes from its JWK, not from this process: the `created` member (Unix seconds) that
// `zt-authz keys new` writes, else the file's mtime, else the time this process first saw it. So
// replicas agree on the schedule without talking to each other, and a restart does not reset it
// (only a Secret key without `created` restarts its lead at each process start). A key that
// first appears while this process already holds keys has been published for no longer than that:
// its lead starts no earlier than clockSkewSeconds before it appeared, so a key restored from a
// backup or copied with its old mtime is not taken as published long ago and does not sign before
// consumers can have fetched it (the skew leaves room for replicas that notice a new key later).
import type { LoadedKey } from './private-jwk.js';
import { NodeSigningKey } from './node-signing-key.js';
import type { MintAlgorithm, SigningKey, SigningKeySource } from './signing-key.js';

export interface KeyRingOptions {
  algorithm: MintAlgorithm;
  ttlSeconds: number;
  publishLeadSeconds: number;
  clockSkewSeconds: number;
  /** Milliseconds since 1970; tests drive the schedule with their own. */
  now?: () => number;
  /** The key that signs changed (kid), with whether it skipped its lead (no other key could sign). */
  onSignerChange?: (kid: string, early: boolean) => void;
}

/** One key as the ring holds it: `fallbackCreatedMs` is the file's mtime or first sight, used without `created`. */
export interface RingInput {
  key: LoadedKey;
  fallbackCreatedMs?: number;
}

interface Entry {
  key: LoadedKey;
  signer: NodeSigningKey;
  createdMs: number;
  /** Still in the key source (false: retired, published until its tokens expire). */
  present: boolean;
  goneMs?: number;
  lastSignedMs?: number;
}

export interface PublicJwks {
  keys: Readonly<Record<string, string>>[];
}

export class KeyRing implements SigningKeySource {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private signerKid: string | undefined;
  /** Cached choice: recomputed when the key set changes or the next key's lead ends. */
  private choice: { entry: Entry; until: number } | undefined;
  /** Some key has been loaded: keys that appear after this are new to consumers too. */
  private serving = false;

  constructor(private readonly opts: KeyRingOptions) {
    this.now = opts.now ?? Date.now;
  }

  get algorithm(): MintAlgorithm {
    return this.opts.algorithm;
  }

  /** At least one key can sign: the readiness input. */
  get loaded(): boolean {
    for (const e of this.entries.values()) if (e.present) return true;
    return false;
  }

  /** Kids currently in the key source (not retired). */
  get presentKids(): string[] {
    return [...this.entries.values()].filter((e) => e.present).map((e) => e.key.kid);
  }

  /**
   * A complete, valid load of the key source: these keys are present, every other one retires.
   * The caller has already refused a kid reused for a different key (see `conflict`).
   */
  update(keys: readonly RingInput[], nowMs = this.now()): void {
    const seen = new Set<string>();
    for (const { key, fallbackCreatedMs } of keys) {
      seen.add(key.kid);
      const prev = this.entries.get(key.kid);
      if (prev && prev.key.fingerprint === key.fingerprint) {
        prev.present = true;
        delete prev.goneMs;
        // A `created` added later (or an mtime that moved) does not move a schedule already running.
        continue;
      }
      this.entries.set(key.kid, {
        key,
        signer: new NodeSigningKey(key.kid, key.alg, key.privateKey),
        createdMs: this.scheduleStart(key.createdMs ?? fallbackCreatedMs ?? nowMs, nowMs),
        present: true,
        ...(prev?.lastSignedMs !== undefined ? { lastSignedMs: prev.lastSignedMs } : {}),
      });
    }
    for (const e of this.entries.values()) {
      if (e.present && !seen.has(e.key.kid)) {
        e.present = false;
        e.goneMs = nowMs;
      }
    }
    this.choice = undefined;
    this.prune(nowMs);
    if (keys.length) this.serving = true;
  }

  /** A different key already holds this kid (present or still published): reusing a kid would break verifiers' caches. */
  conflict(key: LoadedKey): boolean {
    const prev = this.entries.get(key.kid);
    return prev !== undefined && prev.key.fingerprint !== key.fingerprint;
  }

  signingKey(nowMs: number): SigningKey | undefined {
    let c = this.choice;
    if (c === undefined || nowMs >= c.until || !c.entry.present) c = this.choice = this.choose(nowMs);
    if (!c) return undefined;
    // Never moved back by a clock stepped back: tokens signed before the step expire by the old time.
    if (c.entry.lastSignedMs === undefined || nowMs > c.entry.lastSignedMs) c.entry.lastSignedMs = nowMs;
    return c.entry.signer;
  }

  /** The public JWK Set: every present key, and every retired key some live token may still need. */
  jwks(nowMs = this.now()): PublicJwks {
    this.prune(nowMs);
    const list = [...this.entries.values()].sort((a, b) => b.createdMs - a.createdMs || cmp(b.key.kid, a.key.kid));
    return { keys: list.map((e) => e.key.publicJwk) };
  }

  /** Schedule facts for logs and tests. */
  describe(nowMs = this.now()): { kid: string; createdMs: number; signsFromMs: number; present: boolean; publishedUntilMs?: number }[] {
    return [...this.entries.values()].map((e) => ({
      kid: e.key.kid,
      createdMs: e.createdMs,
      signsFromMs: this.eligibleAt(e),
      present: e.present,
      ...(e.present ? {} : { publishedUntilMs: this.retiredUntil(e, nowMs) }),
    }));
  }

  /** When a key's lead starts: its own time at the first load, else no earlier than its arrival less the skew. */
  private scheduleStart(ownMs: number, nowMs: number): number {
    return this.serving ? Math.max(ownMs, nowMs - this.opts.clockSkewSeconds * 1000) : ownMs;
  }

  private eligibleAt(e: Entry): number {
    return e.createdMs + this.opts.publishLeadSeconds * 1000;
  }

  private retiredUntil(e: Entry, nowMs: number): number {
    const from = Math.max(e.lastSignedMs ?? 0, e.goneMs ?? nowMs);
    return from + (this.opts.ttlSeconds + this.opts.clockSkewSeconds) * 1000;
  }

  private prune(nowMs: number): void {
    for (const [kid, e] of this.entries) if (!e.present && nowMs >= this.retiredUntil(e, nowMs)) this.entries.delete(kid);
  }

  private choose(nowMs: number): { entry: Entry; until: number } | undefined {
    const present = [...this.entries.values()].filter((e) => e.present);
    if (present.length === 0) return undefined;
    const newestFirst = present.sort((a, b) => b.createdMs - a.createdMs || cmp(b.key.kid, a.key.kid));
    const eligible = newestFirst.find((e) => nowMs >= this.eligibleAt(e));
    const entry = eligible ?? newestFirst[newestFirst.length - 1]!;
    // Recheck when the next newer key's lead ends.
    const later = newestFirst.filter((e) => this.eligibleAt(e) > nowMs).map((e) => this.eligibleAt(e));
    const until = later.length ? Math.min(...later) : Number.POSITIVE_INFINITY;
    if (this.signerKid !== entry.key.kid) {
      this.signerKid = entry.key.kid;
      this.opts.onSignerChange?.(entry.key.kid, eligible === undefined && nowMs < this.eligibleAt(entry));
    }
    return { entry, until };
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
