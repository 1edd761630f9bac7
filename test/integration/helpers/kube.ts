// A real etcd + kube-apiserver for the integration tier (scripts/k8s-testenv.sh): one instance per
// test file, in its own state directory, stopped after the file (and by the script's watchdog if
// the test process dies). Requests go straight to the REST API over node:https, with the admin
// client certificate or a bearer token, so the tier needs no kubectl.
//
// Without a Go toolchain the tier is skipped with a message, except under CI=true, where that and
// any failed build or start fail the file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runTestenvScript, type ScriptResult } from './testenv-script.js';
import { registerToken } from '../../helpers/capture.js';

export const ROOT = new URL('../../../../', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'scripts', 'k8s-testenv.sh');

export type Obj = Record<string, any>;

export interface ApiResult<T = Obj> {
  status: number;
  body: T;
  text: string;
}

export interface Kube {
  kubeconfig: string;
  apiUrl: string;
  caFile: string;
  etcdUrl: string;
  saIssuer: string;
  stateDir: string;
  /** A private temp directory for the test's own files (tokens), removed by stop(). */
  tmpDir: string;
  version: string;
  /** Seconds `up` took (build excluded when the cache was warm). */
  startSeconds: number;
  /** A REST call as cluster admin (system:masters), or with `token` as that identity. */
  api<T = Obj>(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string; contentType?: string; accept?: string },
  ): Promise<ApiResult<T>>;
  /** Like api(), but throws unless the answer is 2xx. */
  ok<T = Obj>(method: string, path: string, body?: unknown, opts?: { token?: string; contentType?: string; accept?: string }): Promise<T>;
  /** Server-side apply (what `kubectl apply --server-side` sends), strict field validation. */
  apply(obj: Obj, opts?: { token?: string }): Promise<Obj>;
  /** REST path of an object (collection path when it has no name). */
  pathOf(obj: Obj, plural?: string): string;
  /** Stop / start kube-apiserver alone (every watch drops; etcd and its data stay). */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  /** etcd's current revision; a raw key write (moves the revision); a compaction at `revision`. */
  etcdRevision(): Promise<number>;
  etcdPut(key: string, value: string): Promise<number>;
  /** Deletes a key behind the API server's back (no watch event reaches anyone). */
  etcdDelete(key: string): Promise<number>;
  etcdCompact(revision: number): Promise<void>;
  stop(): Promise<void>;
}

function run(args: string[], env: NodeJS.ProcessEnv, echo: boolean): Promise<ScriptResult> {
  return runTestenvScript(SCRIPT, 'k8s-testenv', args, env, echo);
}

const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Pod: 'pods',
  Service: 'services',
  Deployment: 'deployments',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  ZeroTrustPolicy: 'zerotrustpolicies',
  TokenRevocation: 'tokenrevocations',
  CustomResourceDefinition: 'customresourcedefinitions',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  SubjectAccessReview: 'subjectaccessreviews',
};
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'SubjectAccessReview',
]);

/**
 * Starts an instance, or returns a skip reason (no Go toolchain, outside CI only). Under CI=true
 * every failure throws, so the tier can never pass by skipping.
 */
export async function startKube(): Promise<Kube | { skip: string }> {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'zt-k8s-')), 'state');
  const env = { ...process.env, ZT_K8S_STATE_DIR: stateDir, ZT_K8S_PARENT_PID: String(process.pid) };
  const t0 = performance.now();
  const up = await run(['up'], env, true);
  const startSeconds = (performance.now() - t0) / 1000;
  if (up.code === 3 && process.env.CI !== 'true') {
    return {
      skip: 'no Go toolchain: the real kube-apiserver tier is skipped (install Go ≥ 1.24 and run scripts/k8s-testenv.sh build; under CI=true this fails)',
    };
  }
  if (up.code !== 0 || !/^KUBECONFIG=/m.test(up.stdout))
    throw new Error(`scripts/k8s-testenv.sh up failed (exit ${up.code}):\n${up.stderr.slice(-3000)}`);
  const info = await run(['env'], env, false);
  if (info.code !== 0) throw new Error(`scripts/k8s-testenv.sh env failed: ${info.stderr}`);
  const vars = Object.fromEntries(
    info.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const pki = join(stateDir, 'pki');
  let ca = readFileSync(join(pki, 'ca.crt'));
  const cert = readFileSync(join(pki, 'admin.crt'));
  const key = readFileSync(join(pki, 'admin.key'));
  const api = new URL(vars.K8S_API_URL!);

  const call = <T>(
    method: string,
    path: string,
    body?: unknown,
    opts: { token?: string; contentType?: string; accept?: string } = {},
  ): Promise<ApiResult<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
      if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const req = request(
        { host: api.hostname, port: api.port, method, path, headers, ca, ...(opts.token ? {} : { cert, key }), timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (e.g. /readyz)
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });

  const ok = async <T>(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string; contentType?: string; accept?: string },
  ): Promise<T> => {
    const r = await call<T>(method, path, body, opts);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 500)}`);
    return r.body;
  };

  const pathOf = (obj: Obj, plural?: string): string => {
    const group = String(obj.apiVersion).includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
    const p = plural ?? PLURALS[obj.kind as string];
    if (!p) throw new Error(`no plural known for ${obj.kind}`);
    const ns = CLUSTER_SCOPED.has(obj.kind as string) ? '' : `/namespaces/${obj.metadata?.namespace ?? 'default'}`;
    return `${group}${ns}/${p}${obj.metadata?.name ? `/${obj.metadata.name}` : ''}`;
  };

  const etcd = async (path: string, body: unknown): Promise<Obj> => {
    const res = await fetch(`${vars.K8S_ETCD_URL}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as Obj;
  };

  let stopped: Promise<void> | undefined;
  return {
    kubeconfig: vars.KUBECONFIG!,
    apiUrl: vars.K8S_API_URL!,
    caFile: vars.K8S_CA_FILE!,
    etcdUrl: vars.K8S_ETCD_URL!,
    saIssuer: vars.K8S_SA_ISSUER!,
    stateDir,
    tmpDir: dirname(stateDir),
    version: vars.K8S_VERSION!,
    startSeconds,
    api: call,
    ok,
    pathOf,
    apply: (obj, opts = {}) =>
      ok('PATCH', `${pathOf(obj)}?fieldManager=kubectl&fieldValidation=Strict&force=true`, JSON.stringify(obj), {
        ...opts,
        contentType: 'application/apply-patch+yaml',
      }),
    async stopApiserver() {
      const r = await run(['stop-apiserver'], env, false);
      if (r.code !== 0) throw new Error(`stop-apiserver failed: ${r.stderr.slice(-2000)}`);
    },
    async startApiserver() {
      const r = await run(['start-apiserver'], env, false);
      if (r.code !== 0) throw new Error(`start-apiserver failed: ${r.stderr.slice(-2000)}`);
      ca = readFileSync(join(pki, 'ca.crt'));
    },
    async etcdPut(k, v) {
      const r = await etcd('/v3/kv/put', { key: Buffer.from(k).toString('base64'), value: Buffer.from(v).toString('base64') });
      return Number((r.header as Obj).revision);
    },
    async etcdRevision() {
      // The KV range answer's header carries the store's current revision (the gateway sends int64 as strings).
      const r = await etcd('/v3/kv/range', { key: Buffer.from('/registry/').toString('base64'), limit: 1 });
      return Number((r.header as Obj).revision);
    },
    async etcdDelete(k) {
      const r = await etcd('/v3/kv/deleterange', { key: Buffer.from(k).toString('base64') });
      return Number(r.deleted ?? 0);
    },
    async etcdCompact(revision) {
      await etcd('/v3/kv/compaction', { revision: String(revision), physical: true });
    },
    stop: () =>
      (stopped ??= (async () => {
        const r = await run(['down'], env, false);
        if (r.code !== 0) throw new Error(`scripts/k8s-testenv.sh down failed: ${r.stderr}`);
        rmSync(dirname(stateDir), { recursive: true, force: true });
      })()),
  };
}

/** The objects of a multi-document YAML text (empty documents dropped). */
export function yamlObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Obj | null)
    .filter((o): o is Obj => !!o && typeof o === 'object' && !!o.kind);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await sleep(50);
  }
}

/** A ServiceAccount token from the TokenRequest API (what a projected volume gets). */
export async function tokenRequest(
  kube: Kube,
  namespace: string,
  sa: string,
  audiences: string[],
  expirationSeconds = 3600,
): Promise<string> {
  const r = await kube.ok<Obj>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences, expirationSeconds },
  });
  // The hygiene scan then fails the run if any part of it is ever printed.
  return registerToken(r.status.token as string);
}
