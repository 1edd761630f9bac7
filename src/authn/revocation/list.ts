// The revocation list the authenticator consults on every request: entries from the revocation
// file and from TokenRevocation resources, merged into maps keyed by issuer+jti, issuer+subject
// and API-key hash, so a lookup is O(1) whatever the list's size. Sources replace their own
// entries wholesale (the file) or one by one (a resource); every change rebuilds the index off
// the request path and swaps it with one assignment, then tells the listeners (the App evicts
// the now-revoked tokens from the verified-token cache).
//
// Bounded: an entry leaves the index once it can no longer match a valid credential — after its
// expiresAt (plus the issuer's clock skew, during which jose still accepts the token), or, for a
// notBefore entry without expiresAt, once every token it covers is past the issuer's
// maxTokenAgeSeconds. A periodic sweep rebuilds the index so dropped entries free their memory.
import type { RevocationEntry } from './entries.js';

/** What the authenticator asks (AuthenticatorOptions.revocation). */
export interface RevocationCheck {
  /** No live entry at all: the per-request check is one property read. */
  readonly empty: boolean;
  /** `iat` in seconds (JWT NumericDate); a subject entry revokes a token without iat (fail closed). */
  tokenRevoked(issuer: string, jti: string | undefined, subject: string, iat: number | undefined): boolean;
  /** `sha256Hex`: lower-case hex SHA-256 of the whole key string, as the keys file holds it. */
  apiKeyRevoked(sha256Hex: string): boolean;
}

/** What the list needs to know of a configured issuer. */
export interface RevocationIssuer {
  issuer: string;
  clockSkewSeconds: number;
  maxTokenAgeSeconds?: number;
}

/** Grace past expiresAt for entries whose issuer is unknown (or API keys): the default clock skew. */
const DEFAULT_GRACE_MS = 30_000;

interface Indexed {
  /** Epoch ms after which the entry matches nothing; undefined: kept until its source removes it. */
  dropAt: number | undefined;
  notBefore: number;
}

interface Index {
  jti: Map<string, Indexed[]>;
  subject: Map<string, Indexed[]>;
  apiKey: Map<string, Indexed[]>;
  size: number;
  /** Earliest dropAt in the index: the next sweep worth doing. */
  nextDrop: number;
}

const EMPTY_INDEX: Index = { jti: new Map(), subject: new Map(), apiKey: new Map(), size: 0, nextDrop: Infinity };

export interface RevocationListOptions {
  now?: () => number;
  /** An entry names an issuer that is not configured: it is loaded all the same (it may be added on reload). */
  onUnknownIssuer?: (source: string, issuer: string) => void;
}

export class RevocationList implements RevocationCheck {
  private readonly sources = new Map<string, readonly RevocationEntry[]>();
  private issuers = new Map<string, RevocationIssuer>();
  private index: Index = EMPTY_INDEX;
  private readonly listeners: Array<() => void> = [];
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Unknown-issuer warnings already given, per source, so a re-read does not repeat them. */
  private readonly warned = new Map<string, Set<string>>();

  constructor(private readonly opts: RevocationListOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  get empty(): boolean {
    return this.index.size === 0;
  }

  /** Live entries in the index (the zt_authz_revocation_entries gauge). */
  get size(): number {
    return this.index.size;
  }

  /** Called after every change of the index (not for sweeps that drop nothing). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The configured issuers (at start and on every reload): clock skews and lifetimes decide when entries drop. */
  configure(issuers: readonly RevocationIssuer[]): void {
    const next = new Map(issuers.map((i) => [i.issuer, i]));
    const key = (m: Map<string, RevocationIssuer>): string =>
      JSON.stringify([...m.values()].sort((a, b) => (a.issuer < b.issuer ? -1 : 1)));
    if (key(next) === key(this.issuers)) return;
    this.issuers = next;
    this.warned.clear();
    for (const source of this.sources.keys()) this.warnUnknown(source);
    this.reindex();
  }

  /** Replace every entry of one source (`file`, or `TokenRevocation ns/name`); [] removes the source. */
  set(source: string, entries: readonly RevocationEntry[]): void {
    if (entries.length === 0) {
      if (!this.sources.delete(source)) return;
      this.warned.delete(source);
    } else {
      this.sources.set(source, entries);
      this.warned.delete(source);
      this.warnUnknown(source);
    }
    this.reindex();
  }

  tokenRevoked(issuer: string, jti: string | undefined, subject: string, iat: number | undefined): boolean {
    const idx = this.index;
    if (idx.size === 0) return false;
    const now = this.now();
    if (jti !== undefined) {
      const hits = idx.jti.get(`${issuer}\n${jti}`);
      if (hits && hits.some((e) => live(e, now))) return true;
    }
    const subj = idx.subject.get(`${issuer}\n${subject}`);
    // iat is seconds; notBefore ms. A token without iat cannot show it came after: revoked.
    return subj !== undefined && subj.some((e) => live(e, now) && (iat === undefined || iat * 1000 < e.notBefore));
  }

  apiKeyRevoked(sha256Hex: string): boolean {
    const idx = this.index;
    if (idx.size === 0) return false;
    const hits = idx.apiKey.get(sha256Hex.toLowerCase());
    const now = this.now();
    return hits !== undefined && hits.some((e) => live(e, now));
  }

  /** Drop expired entries now (the timer does it too); true when the index shrank. */
  sweep(): boolean {
    if (this.now() <= this.index.nextDrop) return false;
    const before = this.index.size;
    this.reindex(false);
    return this.index.size !== before;
  }

  /** Sweep every `everyMs` (unref'd: it never keeps the process alive). */
  startSweeping(everyMs = 60_000): void {
    this.stopSweeping();
    this.sweepTimer = setInterval(() => this.sweep(), everyMs);
    this.sweepTimer.unref();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private warnUnknown(source: string): void {
    const report = this.opts.onUnknownIssuer;
    if (!report) return;
    const seen = this.warned.get(source) ?? new Set<string>();
    this.warned.set(source, seen);
    for (const e of this.sources.get(source) ?? []) {
      if (e.kind === 'apiKey' || this.issuers.has(e.issuer) || seen.has(e.issuer)) continue;
      seen.add(e.issuer);
      report(source, e.issuer);
    }
  }

  private dropAt(e: RevocationEntry): number | undefined {
    const iss = e.kind === 'apiKey' ? undefined : this.issuers.get(e.issuer);
    const grace = iss ? iss.clockSkewSeconds * 1000 : DEFAULT_GRACE_MS;
    if (e.expiresAt !== undefined) return e.expiresAt + grace;
    // Every token a notBefore entry covers has iat < notBefore; with maxTokenAgeSeconds none of
    // them verifies past notBefore + that age (+ skew), and jose requires iat then, so the
    // entry has nothing left to revoke.
    if (e.kind === 'subject' && iss?.maxTokenAgeSeconds !== undefined) return e.notBefore + iss.maxTokenAgeSeconds * 1000 + grace;
    return undefined;
  }

  private reindex(notify = true): void {
    const now = this.now();
    const next: Index = { jti: new Map(), subject: new Map(), apiKey: new Map(), size: 0, nextDrop: Infinity };
    for (const entries of this.sources.values()) {
      for (const e of entries) {
        const dropAt = this.dropAt(e);
        if (dropAt !== undefined && dropAt < now) continue;
        const map = e.kind === 'jti' ? next.jti : e.kind === 'subject' ? next.subject : next.apiKey;
        const key = e.kind === 'jti' ? `${e.issuer}\n${e.jti}` : e.kind === 'subject' ? `${e.issuer}\n${e.subject}` : e.sha256;
        const item: Indexed = { dropAt, notBefore: e.kind === 'subject' ? e.notBefore : 0 };
        const list = map.get(key);
        if (list) list.push(item);
        else map.set(key, [item]);
        next.size++;
        if (dropAt !== undefined && dropAt < next.nextDrop) next.nextDrop = dropAt;
      }
    }
    this.index = next; // one assignment: a lookup sees the old index or the new one
    if (notify) for (const l of this.listeners) l();
  }
}

function live(e: Indexed, now: number): boolean {
  return e.dropAt === undefined || now <= e.dropAt;
}
