// A small informer: list, then watch from the list's resourceVersion, keeping an in-memory store
// of one kind of object and calling back on every add/update/delete.
//
//  - Watches ask for bookmarks (allowWatchBookmarks) so a quiet watch still advances its
//    resourceVersion, and resume from the last one seen after a clean close or client timeout.
//  - 410 Gone (HTTP status or an ERROR event, "too old resource version") → relist, without
//    backoff. The relist diffs against the store, so objects deleted meanwhile are reported.
//  - Any other failure (API server down, 5xx, reset stream) → retry with exponential backoff
//    (backoffMinMs doubling up to backoffMaxMs, ±20 % jitter), reset by the next success.
//  - Resync: every resyncMs a full relist, which repairs any drift a missed event could cause.
//  - Lists are paginated (limit pageSize, default 500, + continue token), so a big cluster's pods
//    do not arrive as one huge response. Every page is fetched before the store is diffed (a
//    missing object on page 1 is not a delete). The pages of one list are one consistent
//    snapshot; when its continue token has expired (410), the list restarts from scratch, and if
//    that expires too, one unpaginated list is made (as client-go's pager does).
//  - `transform` strips objects before they are stored (pods: only what the workload map reads).
//  - The store keeps the last-known state through outages: nothing is dropped because the API
//    server is unreachable.
import type { Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withTimeout } from './timeout.js';
import { ProtocolError, ZtAuthzError } from '../errors.js';

export interface KubeMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: KubeMeta;
}

export interface KubeList<T> {
  items: T[];
  /** `continue` in JSON; client-node's typed lists (e.g. V1PodList) call it `_continue`. */
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

/** One page of a list: pass both to the API call (client-node: `limit`, `_continue`). */
export interface ListPage {
  /** Absent: the whole list in one response (the fallback after an expired continue token). */
  limit?: number;
  continue?: string;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions<T extends KubeObject> {
  /** For logs, e.g. "zerotrustpolicies (all namespaces)". */
  name: string;
  watch: Watch;
  /** Watch path, e.g. /apis/zt-authz.io/v1alpha1/namespaces/shop/zerotrustpolicies */
  path: string;
  /** One page; paginated by the informer (see ListPage). */
  list: (page: ListPage) => Promise<KubeList<T>>;
  /** Items per list page. Default 500 (client-go's). */
  pageSize?: number;
  /** Applied to every listed or watched object before it is stored and reported. */
  transform?: (obj: T) => T;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  logger: Logger;
  onEvent: (type: InformerEvent, obj: T, old: T | undefined) => void;
  /** After every successful list (the store then mirrors the API server). */
  onSynced?: () => void;
  /** A list, or a watch that has not answered with headers, is abandoned after this long. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Field selector for the watch, e.g. `metadata.name=idp-keys` (pass the same one to `list`):
   * RBAC can then grant `resourceNames` instead of every object of the kind.
   */
  fieldSelector?: string;
  /** Label selector for the watch (pass the same one to `list`), e.g. `zt-authz.io/api-keys=partners`. */
  labelSelector?: string;
}

/** client-node request parameters for a page (its name for `continue` is `_continue`). */
export function pageParams(page: ListPage): { limit?: number; _continue?: string } {
  return { ...(page.limit !== undefined ? { limit: page.limit } : {}), ...(page.continue ? { _continue: page.continue } : {}) };
}

export const objectKey = (m: KubeMeta): string => (m.namespace ? `${m.namespace}/${m.name}` : m.name);

interface StatusLike {
  code?: number;
  reason?: string;
  message?: string;
}

export class Informer<T extends KubeObject> {
  readonly store = new Map<string, T>();
  /** Counters, for tests and logs. */
  readonly stats = { lists: 0, listPages: 0, listRestarts: 0, watches: 0, events: 0, bookmarks: 0, gone: 0, failures: 0 };
  private rv = '';
  private synced = false;
  private stopped = true;
  private failures = 0;
  private lastListAt = 0;
  private abortWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: InformerOptions<T>) {}

  /** True once the first list succeeded (stays true through later outages: last-known state). */
  get hasSynced(): boolean {
    return this.synced;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops watching; waits at most 1 s for an in-flight request to give up. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.abortWatch?.();
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
  }

  /** Force a relist now (used by tests and after status conflicts). */
  resync(): void {
    this.rv = '';
    this.abortWatch?.();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.rv) await this.relist();
        if (this.stopped) break;
        const { events, ms } = await this.watchOnce();
        if (this.stopped || !this.rv) continue; // stopping, or a relist is due (resync, 410)
        // A clean close: resume from the last resourceVersion. A watch that closed at once with
        // nothing in it counts as a failure, so a misbehaving server cannot make us spin.
        if (events === 0 && ms < 1000) await this.backoff(new ProtocolError('watch closed immediately'));
      } catch (err) {
        if (this.stopped) break;
        if (isGone(err)) {
          this.stats.gone++;
          this.rv = '';
          this.opts.logger.info({ informer: this.opts.name }, 'watch: resourceVersion too old (410 Gone), relisting');
          continue;
        }
        if (isTimeout(err)) continue; // client-side inactivity timeout: resume from rv
        await this.backoff(err);
      }
    }
  }

  private get requestTimeoutMs(): number {
    return this.opts.requestTimeoutMs ?? 30_000;
  }

  /** Every page of one consistent list, transformed; and the list's resourceVersion. */
  private async listAll(): Promise<{ items: T[]; rv: string }> {
    const pageSize = this.opts.pageSize ?? 500;
    let items: T[] = [];
    let expired = 0;
    let page: ListPage = { limit: pageSize };
    for (;;) {
      let list: KubeList<T>;
      try {
        // A hung API server must not hang the informer: give up, back off, retry.
        list = await withTimeout(this.opts.list(page), this.requestTimeoutMs, 'list');
      } catch (err) {
        // 410 on a continue: the snapshot the pages come from was compacted away. Start over
        // (the pages fetched so far may be stale); a second expiry → one unpaginated list.
        if (page.continue === undefined || !isGone(err) || this.stopped) throw err;
        expired++;
        this.stats.listRestarts++;
        items = [];
        page = expired >= 2 ? {} : { limit: pageSize };
        this.opts.logger.info(
          { informer: this.opts.name, paginated: page.limit !== undefined },
          'list: continue token expired (410 Gone), restarting the list',
        );
        continue;
      }
      this.stats.listPages++;
      const transform = this.opts.transform;
      for (const obj of list.items ?? []) items.push(transform ? transform(obj) : obj);
      const next = list.metadata?.continue || list.metadata?._continue;
      if (!next || page.limit === undefined) return { items, rv: list.metadata?.resourceVersion ?? '' };
      page = { limit: pageSize, continue: next };
    }
  }

  private async relist(): Promise<void> {
    const list = await this.listAll();
    this.stats.lists++;
    // Without a resourceVersion there is nothing to watch from: every watch would be dropped and
    // relisted at once, a tight loop. Treat it as a failed list (backoff; not synced until fixed).
    if (!list.rv) throw new ProtocolError('list returned no metadata.resourceVersion');
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = objectKey(obj.metadata);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old, old);
      }
    }
    this.rv = list.rv;
    this.failures = 0;
    this.lastListAt = Date.now();
    this.synced = true;
    this.scheduleResync();
    try {
      this.opts.onSynced?.();
    } catch (err) {
      this.opts.logger.error({ informer: this.opts.name, err: (err as Error).message }, 'informer sync handler failed');
    }
  }

  private scheduleResync(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.stopped) return;
      this.resync();
    }, this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  private upsert(key: string, obj: T): void {
    const old = this.store.get(key);
    if (old && old.metadata.resourceVersion !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.store.set(key, obj);
    this.emit(old ? 'update' : 'add', obj, old);
  }

  private emit(type: InformerEvent, obj: T, old: T | undefined): void {
    try {
      this.opts.onEvent(type, obj, old);
    } catch (err) {
      this.opts.logger.error({ informer: this.opts.name, err: (err as Error).message }, 'informer event handler failed');
    }
  }

  private watchOnce(): Promise<{ events: number; ms: number }> {
    const started = Date.now();
    let events = 0;
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: unknown): void => {
        if (settled) return;
        settled = true;
        this.abortWatch = undefined;
        // Errors after we aborted on purpose (stop, resync) are not failures.
        if (err && (isGone(err) || !(this.stopped || this.rv === '')))
          reject(err instanceof Error ? err : new ProtocolError(`watch failed (${typeof err} thrown)`));
        else resolve({ events, ms: Date.now() - started });
      };
      const onEvent = (type: string, obj: unknown): void => {
        if (settled) return;
        events++;
        this.stats.events++;
        this.failures = 0;
        const o = obj as T & StatusLike;
        const stored = (): T => (this.opts.transform ? this.opts.transform(o) : o);
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.upsert(objectKey(o.metadata), stored());
            break;
          case 'DELETED': {
            const key = objectKey(o.metadata);
            const old = this.store.get(key);
            this.store.delete(key);
            this.emit('delete', stored(), old);
            break;
          }
          case 'BOOKMARK':
            this.stats.bookmarks++;
            break;
          case 'ERROR': {
            // The API server ends the stream after an ERROR event; 410: our rv is too old.
            const gone = o.code === 410 || o.reason === 'Expired' || o.reason === 'Gone';
            if (gone) this.rv = '';
            // Settle with this error before aborting: on an established watch the abort makes the
            // client report an AbortError at once, which (rv cleared) would settle as a plain
            // close, so the 410 would relist without being logged or counted.
            const abort = this.abortWatch;
            done(
              gone
                ? Object.assign(new Error('resourceVersion too old'), { statusCode: 410 })
                : new Error(`watch error event: ${o.message ?? o.reason ?? 'unknown'}`),
            );
            abort?.();
            return;
          }
          default:
            return;
        }
        const rv = o.metadata?.resourceVersion;
        if (rv) this.rv = rv;
      };
      this.stats.watches++;
      // The watch call resolves only once the server has sent headers: bound that wait.
      const connectTimer = setTimeout(
        () => done(new Error(`watch not answered within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      connectTimer.unref();
      // Server-side timeout 5–10 min (as client-go) so the server ends watches cleanly.
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      this.opts.watch
        .watch(
          this.opts.path,
          {
            resourceVersion: this.rv,
            allowWatchBookmarks: true,
            timeoutSeconds,
            ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
            ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
          },
          onEvent,
          done,
        )
        .then(
          (ctrl) => {
            clearTimeout(connectTimer);
            if (settled || this.stopped) ctrl.abort();
            else if (this.rv === '') {
              // resync() was called while this watch was connecting (it had nothing to abort yet).
              ctrl.abort();
              done(undefined);
            } else this.abortWatch = () => ctrl.abort();
          },
          (err: unknown) => {
            clearTimeout(connectTimer);
            done(err ?? new Error('watch failed'));
          },
        );
    });
  }

  private async backoff(err: unknown): Promise<void> {
    this.failures++;
    this.stats.failures++;
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    const log = this.failures === 1 ? this.opts.logger.warn.bind(this.opts.logger) : this.opts.logger.debug.bind(this.opts.logger);
    log(
      { informer: this.opts.name, error: describe(err), retryInMs: delay, failures: this.failures },
      'Kubernetes watch failed; keeping last-known state and retrying',
    );
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, delay);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

function isGone(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410;
}

/**
 * The watch library's client-side inactivity timeout (an error it names TimeoutError). Our own
 * TimeoutError (a list that did not answer in time, withTimeout) is not one: it backs off.
 */
function isTimeout(err: unknown): boolean {
  return !(err instanceof ZtAuthzError) && (err as { name?: string } | undefined)?.name === 'TimeoutError';
}

function describe(err: unknown): string {
  const e = err as { statusCode?: number; code?: number | string; message?: string; cause?: { code?: string } } | undefined;
  const status = e?.statusCode ?? (typeof e?.code === 'number' ? e.code : undefined);
  if (status === 404) return 'HTTP 404 (is the resource type installed, e.g. the ZeroTrustPolicy CRD?)';
  if (status === 401 || status === 403) return `HTTP ${status} (check the service account and its RBAC rules)`;
  if (status) return `HTTP ${status}`;
  if (e?.cause?.code) return `${e.message ?? 'error'} (${e.cause.code})`;
  return e?.message ?? String(err);
}
