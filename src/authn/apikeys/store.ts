// The hashed keys of one API-key source, gathered from its origins (the keys file, each labelled
// Secret) into one index keyed by the SHA-256 of the key: a lookup is one Map get, whatever the
// number of keys. Kept across reloads (registry.ts); the request path only reads it.
import { timingSafeEqual } from 'node:crypto';
import type { ConfigProblem } from '../../config/problems.js';
import type { ApiKeyEntry } from './keys-file.js';

export interface HeldKey {
  readonly entry: ApiKeyEntry;
  /** Where the entry came from: the keys file's path or `secret NS/NAME`. */
  readonly origin: string;
  /** The 32-byte digest. */
  readonly digest: Buffer;
}

export class ApiKeyStore {
  private readonly parts = new Map<string, readonly ApiKeyEntry[]>();
  /** Binary digest (32 latin1 characters) → key. Rebuilt whole on every change, then swapped. */
  private index = new Map<string, HeldKey>();
  /** Origins that delivered a first answer (a document, or that they have none). */
  private readonly known = new Set<string>();

  constructor(readonly source: string) {}

  get size(): number {
    return this.index.size;
  }

  /** Whether every origin in `expected` has delivered once. */
  loaded(expected: Iterable<string>): boolean {
    for (const o of expected) if (!this.known.has(o)) return false;
    return true;
  }

  /**
   * Replace the entries of one origin. Two origins of a source may not hold the same key or two
   * keys of one name (the audit record would not tell them apart): such an update is refused,
   * the origin keeps its previous entries, and the problems are returned.
   */
  setPart(origin: string, entries: readonly ApiKeyEntry[]): ConfigProblem[] {
    const next = new Map(this.parts);
    next.set(origin, entries);
    const problems = this.conflicts(next, origin);
    if (problems.length) return problems;
    this.known.add(origin);
    this.swap(next);
    return [];
  }

  /** An origin that no longer holds keys (a deleted Secret). */
  removePart(origin: string): void {
    this.known.add(origin);
    if (!this.parts.has(origin)) return;
    const next = new Map(this.parts);
    next.delete(origin);
    this.swap(next);
  }

  /** The key whose SHA-256 is `digest` (binary string, 32 characters), compared in constant time. */
  lookup(digest: string): HeldKey | undefined {
    const held = this.index.get(digest);
    if (!held) return undefined;
    // The Map already matched the digest; the constant-time comparison of the digests is what
    // decides, so no timing of a string comparison ever stands between a guess and a key.
    const presented = Buffer.from(digest, 'latin1');
    return presented.length === held.digest.length && timingSafeEqual(presented, held.digest) ? held : undefined;
  }

  private swap(parts: Map<string, readonly ApiKeyEntry[]>): void {
    const index = new Map<string, HeldKey>();
    for (const [origin, entries] of parts) {
      for (const entry of entries) {
        const digest = Buffer.from(entry.sha256, 'hex');
        index.set(digest.toString('latin1'), { entry, origin, digest });
      }
    }
    this.parts.clear();
    for (const [o, e] of parts) this.parts.set(o, e);
    this.index = index;
  }

  private conflicts(parts: ReadonlyMap<string, readonly ApiKeyEntry[]>, changed: string): ConfigProblem[] {
    const names = new Map<string, string>();
    const hashes = new Map<string, string>();
    for (const [origin, entries] of parts) {
      if (origin === changed) continue;
      for (const e of entries) {
        names.set(e.name, origin);
        hashes.set(e.sha256, origin);
      }
    }
    const problems: ConfigProblem[] = [];
    (parts.get(changed) ?? []).forEach((e, i) => {
      const byName = names.get(e.name);
      if (byName !== undefined)
        problems.push({ path: `keys[${i}].name`, message: `a key of this name is already in ${byName} (same source ${this.source})` });
      const byHash = hashes.get(e.sha256);
      if (byHash !== undefined)
        problems.push({ path: `keys[${i}].sha256`, message: `the same key is already in ${byHash} (same source ${this.source})` });
    });
    return problems;
  }
}
