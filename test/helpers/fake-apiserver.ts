// An in-process fake Kubernetes API server for tests, good enough for @kubernetes/client-node:
// list and watch (newline-delimited JSON event streams) for core kinds (pods, secrets) and custom
// resources (zerotrustpolicies, tokenrevocations), bookmarks, 410 Gone for compacted resourceVersions, paginated
// lists (limit + continue; every page from one snapshot at the first page's resourceVersion, 410
// once that is compacted), the status subresource with optimistic concurrency (409), create (POST)
// and replace (PUT, 409 on a stale resourceVersion) of whole objects, and fault
// injection: dropped watch streams, failing requests, an unreachable server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> & { name: string; namespace?: string } };

interface Kind {
  kind: string;
  apiVersion: string;
  /** Custom resources carry metadata.generation, bumped on spec changes. */
  generation: boolean;
}

const KINDS: Record<string, Kind> = {
  pods: { kind: 'Pod', apiVersion: 'v1', generation: false },
  secrets: { kind: 'Secret', apiVersion: 'v1', generation: false },
  zerotrustpolicies: { kind: 'ZeroTrustPolicy', apiVersion: 'zt-authz.io/v1alpha1', generation: true },
  tokenrevocations: { kind: 'TokenRevocation', apiVersion: 'zt-authz.io/v1alpha1', generation: true },
};

interface Event {
  rv: number;
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: Obj;
}

interface Watcher {
  plural: string;
  namespace: string | undefined;
  res: ServerResponse;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}

/** A paginated list in progress: the snapshot its pages are served from. */
interface PagedList {
  rv: number;
  plural: string;
  namespace: string | undefined;
  items: Obj[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
}

const PATH = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+)(?:\/(status))?)?$/;

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** Objects created (POST) or replaced (PUT) through the API, in order. */
  readonly writes: { method: string; plural: string; name: string }[] = [];
  readonly statusWrites: Obj[] = [];
  url = '';
  /** Bookmark interval for watches that ask for them (0: only on bookmark()). */
  bookmarkIntervalMs = 0;
  /** Answer watches from a compacted resourceVersion with HTTP 410 instead of an ERROR event. */
  goneAsHttpStatus = false;
  /** Called before a list page with a continue token is answered (tests compact here). */
  beforeContinue: ((r: RecordedRequest) => void) | undefined;
  /** Pages served so far (lists with `limit`). */
  listPages = 0;
  private readonly pagedLists = new Map<string, PagedList>();
  private rv = 1;
  private compactedRv = 0;
  private readonly store = new Map<string, Map<string, Obj>>();
  private readonly log: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private failures: Array<{ status: number; match?: (r: RecordedRequest) => boolean }> = [];
  private isDown = false;
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      if (this.isDown) {
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(): Promise<FakeApiServer> {
    const f = new FakeApiServer();
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get activeWatches(): number {
    return this.watchers.size;
  }

  /** Watch requests received so far for a kind (reconnects included). */
  watchRequests(plural: string): number {
    return this.requests.filter((r) => r.watch && r.path.endsWith(`/${plural}`)).length;
  }

  listRequests(plural: string): number {
    return this.requests.filter((r) => !r.watch && r.method === 'GET' && r.path.endsWith(`/${plural}`)).length;
  }

  get(plural: string, namespace: string, name: string): Obj | undefined {
    const o = this.bucket(plural).get(`${namespace}/${name}`);
    return o ? structuredClone(o) : undefined;
  }

  /** Create or update (server-side semantics: rv bump; generation bump on spec change for CRs). */
  apply(plural: string, input: { metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown }): Obj {
    const kind = KINDS[plural]!;
    const key = `${input.metadata.namespace ?? ''}/${input.metadata.name}`;
    const prev = this.bucket(plural).get(key);
    const obj = structuredClone(input) as Obj;
    obj.apiVersion = kind.apiVersion;
    obj.kind = kind.kind;
    obj.metadata.uid = prev?.metadata.uid ?? randomUUID();
    obj.metadata.creationTimestamp = prev?.metadata.creationTimestamp ?? new Date().toISOString();
    if (kind.generation) {
      const g = (prev?.metadata.generation as number | undefined) ?? 0;
      obj.metadata.generation = !prev ? 1 : JSON.stringify(prev.spec) !== JSON.stringify(obj.spec) ? g + 1 : g;
      if (prev?.status !== undefined && obj.status === undefined) obj.status = prev.status; // status only via the subresource
    }
    obj.metadata.resourceVersion = String(++this.rv);
    this.bucket(plural).set(key, obj);
    this.emit({ rv: this.rv, plural, type: prev ? 'MODIFIED' : 'ADDED', obj });
    return structuredClone(obj);
  }

  remove(plural: string, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const prev = this.bucket(plural).get(key);
    if (!prev) return;
    this.bucket(plural).delete(key);
    const obj = { ...structuredClone(prev), metadata: { ...prev.metadata, resourceVersion: String(++this.rv) } } as Obj;
    this.emit({ rv: this.rv, plural, type: 'DELETED', obj });
  }

  /** Forget history: watches from any earlier resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.log.length = 0;
  }

  /** Send "410 Gone" (ERROR event) to every open watch and end them, as after etcd compaction. */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.watchers]) {
      this.write(w, { type: 'ERROR', object: gone() });
      this.endWatch(w);
    }
  }

  /** Cut every open watch stream without a proper end (connection reset). */
  dropWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      if (w.timer) clearInterval(w.timer);
      w.res.socket?.destroy();
    }
  }

  /** Send a bookmark with the current resourceVersion on every open watch that asked for them. */
  bookmark(): void {
    for (const w of this.watchers) if (w.bookmarks) this.sendBookmark(w);
  }

  /** The next `n` matching requests fail with `status`. */
  failNext(n: number, status = 500, match?: (r: RecordedRequest) => boolean): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, ...(match ? { match } : {}) });
  }

  /** Unreachable: new connections are reset, open ones cut. */
  down(): void {
    this.isDown = true;
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.isDown = false;
  }

  async close(): Promise<void> {
    for (const w of [...this.watchers]) this.endWatch(w);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------

  private bucket(plural: string): Map<string, Obj> {
    let b = this.store.get(plural);
    if (!b) this.store.set(plural, (b = new Map()));
    return b;
  }

  private emit(e: Event): void {
    this.log.push(e);
    for (const w of this.watchers) {
      if (w.plural === e.plural && (w.namespace === undefined || w.namespace === e.obj.metadata.namespace))
        this.write(w, { type: e.type, object: e.obj });
    }
  }

  private write(w: Watcher, ev: unknown): void {
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(JSON.stringify(ev) + '\n');
  }

  private sendBookmark(w: Watcher): void {
    const kind = KINDS[w.plural]!;
    this.write(w, {
      type: 'BOOKMARK',
      object: { kind: kind.kind, apiVersion: kind.apiVersion, metadata: { resourceVersion: String(this.rv) } },
    });
  }

  private endWatch(w: Watcher): void {
    this.watchers.delete(w);
    if (w.timer) clearInterval(w.timer);
    if (!w.res.writableEnded) w.res.end();
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(u.searchParams);
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query,
      watch: query.watch === 'true' || query.watch === '1',
    };
    this.requests.push(rec);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.isDown) {
      res.socket?.destroy();
      return;
    }
    const fi = this.failures.findIndex((f) => !f.match || f.match(rec));
    if (fi >= 0) {
      const [f] = this.failures.splice(fi, 1);
      return this.json(res, f!.status, status(f!.status, 'InternalError', 'injected failure'));
    }
    const m = PATH.exec(u.pathname);
    const plural = m?.[4];
    if (!m || !plural || !KINDS[plural]) return this.json(res, 404, status(404, 'NotFound', `no route ${u.pathname}`));
    const [, group, , namespace, , name, sub] = m;
    if (group && KINDS[plural].apiVersion.split('/')[0] !== group) return this.json(res, 404, status(404, 'NotFound', 'wrong group'));

    if (req.method === 'GET' && !name) {
      if (rec.watch) return this.watch(res, plural, namespace, query);
      return this.list(res, rec, plural, namespace, query);
    }
    if (req.method === 'GET' && name && !sub) {
      const o = this.bucket(plural).get(`${namespace ?? ''}/${name}`);
      return o ? this.json(res, 200, o) : this.json(res, 404, status(404, 'NotFound', `${plural} "${name}" not found`));
    }
    if ((req.method === 'PUT' || req.method === 'PATCH') && name && sub === 'status') {
      const key = `${namespace ?? ''}/${name}`;
      const cur = this.bucket(plural).get(key);
      if (!cur) return this.json(res, 404, status(404, 'NotFound', `${plural} "${name}" not found`));
      let body: Obj;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj;
      } catch {
        return this.json(res, 400, status(400, 'BadRequest', 'invalid JSON'));
      }
      const wantRv = body.metadata?.resourceVersion;
      if (req.method === 'PUT' && wantRv !== undefined && wantRv !== cur.metadata.resourceVersion) {
        return this.json(
          res,
          409,
          status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again'),
        );
      }
      const next = structuredClone(cur);
      next.status = body.status;
      next.metadata.resourceVersion = String(++this.rv);
      this.bucket(plural).set(key, next);
      this.statusWrites.push(structuredClone(next));
      this.emit({ rv: this.rv, plural, type: 'MODIFIED', obj: next });
      return this.json(res, 200, next);
    }
    if ((req.method === 'PUT' && name && !sub) || (req.method === 'POST' && !name))
      return this.writeObject(res, req.method, plural, namespace, name, chunks);
    return this.json(res, 405, status(405, 'MethodNotAllowed', `${req.method} not supported here`));
  }

  /** Create (POST: 409 if it exists) or replace (PUT: 404 if absent, 409 on a stale metadata.resourceVersion). */
  private writeObject(
    res: ServerResponse,
    method: string,
    plural: string,
    namespace: string | undefined,
    name: string | undefined,
    chunks: Buffer[],
  ): void {
    let body: Obj;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj;
    } catch {
      return this.json(res, 400, status(400, 'BadRequest', 'invalid JSON'));
    }
    const objName = name ?? body.metadata?.name;
    if (!objName) return this.json(res, 422, status(422, 'Invalid', 'metadata.name is required'));
    const cur = this.bucket(plural).get(`${namespace ?? ''}/${objName}`);
    if (method === 'POST' && cur) return this.json(res, 409, status(409, 'AlreadyExists', `${plural} "${objName}" already exists`));
    if (method === 'PUT' && !cur) return this.json(res, 404, status(404, 'NotFound', `${plural} "${objName}" not found`));
    const wantRv = body.metadata?.resourceVersion;
    if (method === 'PUT' && wantRv !== undefined && wantRv !== cur!.metadata.resourceVersion) {
      return this.json(
        res,
        409,
        status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again'),
      );
    }
    this.writes.push({ method, plural, name: objName });
    const obj = this.apply(plural, { ...body, metadata: { ...body.metadata, name: objName, ...(namespace ? { namespace } : {}) } });
    return this.json(res, method === 'POST' ? 201 : 200, obj);
  }

  /**
   * A list, paginated when `limit` is set: the first page takes a snapshot of the objects (sorted
   * by key, as etcd returns them) at the current resourceVersion, and every continue page is cut
   * from that same snapshot and reports its resourceVersion, whatever changed meanwhile. Once that
   * resourceVersion is compacted, the continue token is rejected with 410 Expired.
   */
  private list(
    res: ServerResponse,
    rec: RecordedRequest,
    plural: string,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    const kind = KINDS[plural]!;
    const limit = query.limit ? Number(query.limit) : 0;
    let snap: PagedList;
    let offset = 0;
    let id: string;
    if (query.continue) {
      let tok: { id?: string; offset?: number };
      try {
        tok = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { id?: string; offset?: number };
      } catch {
        return this.json(res, 400, status(400, 'BadRequest', 'invalid continue token'));
      }
      this.beforeContinue?.(rec);
      const found = tok.id ? this.pagedLists.get(tok.id) : undefined;
      if (!found || found.plural !== plural || found.namespace !== namespace)
        return this.json(res, 400, status(400, 'BadRequest', 'continue token does not match this list'));
      if (found.rv < this.compactedRv) {
        this.pagedLists.delete(tok.id!);
        return this.json(
          res,
          410,
          status(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          ),
        );
      }
      snap = found;
      id = tok.id!;
      offset = Number(tok.offset ?? 0);
    } else {
      const items = [...this.bucket(plural).entries()]
        .filter(([, o]) => !namespace || o.metadata.namespace === namespace)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, o]) => o);
      if (!limit)
        return this.json(res, 200, {
          apiVersion: kind.apiVersion,
          kind: `${kind.kind}List`,
          metadata: { resourceVersion: String(this.rv) },
          items,
        });
      snap = { rv: this.rv, plural, namespace, items: structuredClone(items) };
      id = randomUUID();
      this.pagedLists.set(id, snap);
    }
    const size = limit > 0 ? limit : snap.items.length;
    const items = snap.items.slice(offset, offset + size);
    const rest = snap.items.length - offset - items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (rest > 0) {
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: offset + items.length })).toString('base64url');
      metadata.remainingItemCount = rest;
    } else {
      this.pagedLists.delete(id);
    }
    this.listPages++;
    return this.json(res, 200, { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata, items });
  }

  private watch(res: ServerResponse, plural: string, namespace: string | undefined, query: Record<string, string>): void {
    const from = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (from !== undefined && from > 0 && from < this.compactedRv) {
      if (this.goneAsHttpStatus) return this.json(res, 410, gone());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: gone() }) + '\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { plural, namespace, res, bookmarks: query.allowWatchBookmarks === 'true' };
    const matches = (o: Obj): boolean => namespace === undefined || o.metadata.namespace === namespace;
    if (from === undefined || from === 0) {
      for (const o of this.bucket(plural).values()) if (matches(o)) this.write(w, { type: 'ADDED', object: o });
    } else {
      for (const e of this.log) if (e.rv > from && e.plural === plural && matches(e.obj)) this.write(w, { type: e.type, object: e.obj });
    }
    this.watchers.add(w);
    if (w.bookmarks && this.bookmarkIntervalMs > 0) {
      w.timer = setInterval(() => this.sendBookmark(w), this.bookmarkIntervalMs);
      w.timer.unref();
    }
    res.on('close', () => {
      this.watchers.delete(w);
      if (w.timer) clearInterval(w.timer);
    });
  }
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function gone(): Record<string, unknown> {
  return status(410, 'Expired', 'too old resource version');
}
