// Stays on the fake API server: hung lists and watches, a list without resourceVersion and a 410 on a continue token are faults a real one does not produce on demand.
// Informer edge cases: a list or a watch that never answers is abandoned after requestTimeoutMs
// and retried with backoff, so a hung API server cannot hang the informer; paginated lists
// (limit + continue) against the fake API server, and a 410 on a continue token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Watch } from '@kubernetes/client-node';
import { Informer, pageParams, type KubeObject } from '../../../src/k8s/informer.js';
import { createLogger } from '../../../src/observe/log.js';
import { captureStream, waitUntil } from '../../helpers/app.js';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { kubeClients } from '../../../src/k8s/client.js';
import { KubernetesSync } from '../../../src/k8s/kubernetes-sync.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { PodObject } from '../../../src/k8s/workloads.js';

test('a hung list and a hung watch are abandoned and retried', { timeout: 10000 }, async () => {
  const lines: string[] = [];
  let lists = 0;
  let watches = 0;
  const events: string[] = [];
  const fakeWatch = {
    watch: (_path: string, _q: unknown, cb: (type: string, obj: unknown) => void) => {
      watches++;
      if (watches === 1) return new Promise<AbortController>(() => {}); // never answers
      const ctrl = new AbortController();
      setTimeout(() => cb('ADDED', { metadata: { name: 'b', namespace: 'x', resourceVersion: '3' } }), 5);
      return Promise.resolve(ctrl);
    },
  } as unknown as Watch;
  const inf = new Informer<KubeObject>({
    name: 'test',
    watch: fakeWatch,
    path: '/api/v1/pods',
    list: () => {
      lists++;
      if (lists === 1) return new Promise(() => {}); // never answers
      return Promise.resolve({
        items: [{ metadata: { name: 'a', namespace: 'x', resourceVersion: '2' } }],
        metadata: { resourceVersion: '2' },
      });
    },
    resyncMs: 60_000,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    requestTimeoutMs: 100,
    logger: createLogger('debug', captureStream(lines)),
    onEvent: (type, obj) => events.push(`${type} ${obj.metadata.name}`),
  });
  inf.start();
  try {
    await waitUntil(() => inf.hasSynced, 2000, 'synced after the hung list');
    await waitUntil(() => events.includes('add b'), 2000, 'watch event after the hung watch');
    assert.equal(lists, 2);
    assert.equal(watches, 2);
    assert.deepEqual(events, ['add a', 'add b']);
    assert.ok(lines.some((l) => l.includes('list timed out after 100 ms')));
    assert.ok(lines.some((l) => l.includes('watch not answered within 100 ms')));
  } finally {
    await inf.stop();
  }
});

test('a list without a resourceVersion is a failed list (backoff, not synced), not a tight relist loop', { timeout: 10000 }, async () => {
  const lines: string[] = [];
  let lists = 0;
  let watches = 0;
  const fakeWatch = {
    watch: () => {
      watches++;
      return Promise.resolve(new AbortController());
    },
  } as unknown as Watch;
  const inf = new Informer<KubeObject>({
    name: 'test',
    watch: fakeWatch,
    path: '/api/v1/pods',
    list: () => {
      lists++;
      return Promise.resolve({ items: [{ metadata: { name: 'a', namespace: 'x' } }], metadata: {} });
    },
    resyncMs: 60_000,
    backoffMinMs: 100,
    backoffMaxMs: 200,
    logger: createLogger('debug', captureStream(lines)),
    onEvent: () => {},
  });
  inf.start();
  try {
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(inf.hasSynced, false, 'never synced: there is nothing to watch from');
    assert.equal(watches, 0);
    assert.ok(lists >= 2 && lists <= 8, `lists are backed off (${lists} in 600 ms with a 100–200 ms backoff)`);
    assert.ok(lines.some((l) => l.includes('no metadata.resourceVersion')));
  } finally {
    await inf.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Paginated lists against the fake API server, through @kubernetes/client-node.

function fatPod(name: string, ip: string, annotations: Record<string, string> = {}) {
  return {
    metadata: {
      name,
      namespace: 'shop',
      labels: { app: 'orders' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(2000), ...annotations },
    },
    spec: { serviceAccountName: 'orders', containers: [{ name: 'app', image: 'orders:1', env: [{ name: 'A', value: 'b' }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

const ip = (i: number) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

test(
  'lists are paginated (limit 500 + continue); every page arrives before the store is diffed; pods are stored stripped',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const N = 1201;
    for (let i = 0; i < N; i++)
      fake.apply('pods', fatPod(`p${String(i).padStart(4, '0')}`, ip(i), i === 7 ? { 'zt-authz.io/mode': 'dry-run' } : {}));
    fake.apply('zerotrustpolicies', { metadata: { name: 'orders', namespace: 'shop' }, spec: { rules: [{}] } });
    const lines: string[] = [];
    const config = resolveConfig({ kubernetes: { enabled: true, apiServer: fake.url, writeStatus: false, backoffMinMs: 20 } }).kubernetes;
    const events: string[] = [];
    let synced = 0;
    const sync = await KubernetesSync.create(config, {
      logger: createLogger('debug', captureStream(lines)),
      rolesClaim: () => 'roles',
      onChange: () => undefined,
      onRejected: () => undefined,
      onSynced: () => synced++,
    });
    const pods = sync.informers[1] as Informer<PodObject>;
    const wl = sync.workloads!;
    sync.start();
    try {
      await waitUntil(() => synced === 1, 10000, 'synced');
      const podLists = fake.requests.filter((r) => !r.watch && r.path === '/api/v1/pods');
      assert.deepEqual(
        podLists.map((r) => r.query.limit),
        ['500', '500', '500'],
        'three pages of at most 500',
      );
      assert.equal(podLists[0]!.query.continue, undefined);
      assert.ok(podLists[1]!.query.continue && podLists[2]!.query.continue, 'pages 2 and 3 carry the continue token');
      assert.equal(
        fake.requests.filter((r) => !r.watch && r.path.endsWith('/zerotrustpolicies'))[0]!.query.limit,
        '500',
        'policy lists are paginated too',
      );
      assert.equal(wl.size, N, 'every page reached the workload map');
      assert.equal(wl.byIp(ip(1200))?.name, 'p1200', 'a pod from the last page');
      // Stripped: only what the workload map reads, and only zt-authz.io/ annotations.
      const stored = pods.store.get('shop/p0007')!;
      assert.deepEqual(stored.metadata.annotations, { 'zt-authz.io/mode': 'dry-run' });
      assert.deepEqual(stored.spec, { serviceAccountName: 'orders' });
      assert.deepEqual(Object.keys(stored.status!).sort(), ['phase', 'podIP', 'podIPs']);
      assert.equal(wl.byIp(ip(7))?.mode, 'observe');

      // A resync relists page by page; diffing only after the last page means no object of pages
      // 2–3 looks deleted, and unchanged objects are not reported.
      const apply = wl.apply.bind(wl);
      wl.apply = (type, pod) => {
        events.push(`${type} ${pod.metadata.name}`);
        apply(type, pod);
      };
      fake.dropWatches(); // so the delete arrives through the relist, not the watch
      fake.remove('pods', 'shop', 'p1100');
      const listsBefore = pods.stats.lists;
      pods.resync();
      await waitUntil(() => pods.stats.lists > listsBefore, 5000, 'relisted');
      assert.deepEqual(events, ['delete p1100']);
      assert.equal(wl.size, N - 1);
    } finally {
      await sync.stop();
      await fake.close();
    }
  },
);

test('a 410 on a continue token restarts the list; a second one falls back to one unpaginated list', { timeout: 20000 }, async () => {
  const fake = await FakeApiServer.start();
  for (let i = 0; i < 5; i++) fake.apply('pods', fatPod(`p${i}`, ip(i)));
  const config = resolveConfig({ kubernetes: { enabled: true, apiServer: fake.url } }).kubernetes;
  const { core, newWatch } = kubeClients(config);
  const lines: string[] = [];
  const events: string[] = [];
  const inf = new Informer<PodObject>({
    name: 'pods (test)',
    watch: newWatch(),
    path: '/api/v1/namespaces/shop/pods',
    list: (page) => core.listNamespacedPod({ namespace: 'shop', ...pageParams(page) }) as never,
    pageSize: 2,
    resyncMs: 60_000,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    logger: createLogger('debug', captureStream(lines)),
    onEvent: (type, obj) => events.push(`${type} ${obj.metadata.name}`),
  });
  // The first continue: a write happens and etcd compacts past the list's resourceVersion.
  let expireNext = 1;
  let n = 5;
  fake.beforeContinue = () => {
    if (expireNext-- <= 0) return;
    fake.apply('pods', fatPod(`p${n}`, ip(n)));
    n++;
    fake.compact();
  };
  inf.start();
  try {
    await waitUntil(() => inf.hasSynced, 5000, 'synced');
    const lists = () =>
      fake.requests.filter((r) => !r.watch && r.method === 'GET').map((r) => `${r.query.limit ?? '-'}${r.query.continue ? '+c' : ''}`);
    assert.deepEqual(lists(), ['2', '2+c', '2', '2+c', '2+c'], 'restarted from the first page after the 410');
    assert.equal(inf.stats.listRestarts, 1);
    assert.deepEqual(
      events.sort(),
      ['add p0', 'add p1', 'add p2', 'add p3', 'add p4', 'add p5'],
      'the write made during the expired list is seen, nothing is reported twice or deleted',
    );
    assert.ok(lines.some((l) => l.includes('continue token expired (410 Gone), restarting the list')));

    // Two expiries in one list: one unpaginated list instead (a list too slow to page through).
    expireNext = 2;
    fake.requests.length = 0;
    events.length = 0;
    inf.resync();
    await waitUntil(() => inf.stats.lists === 2, 5000, 'relisted');
    assert.deepEqual(lists(), ['2', '2+c', '2', '2+c', '-']);
    assert.equal(inf.stats.listRestarts, 3);
    assert.deepEqual(events.sort(), ['add p6', 'add p7']);
    assert.equal(inf.store.size, 8);
  } finally {
    await inf.stop();
    await fake.close();
  }
});

test('fake API server: the pages of one list come from one snapshot at one resourceVersion', async () => {
  const fake = await FakeApiServer.start();
  try {
    for (const name of ['a', 'b', 'c']) fake.apply('pods', fatPod(name, '10.0.0.1'));
    const get = async (q: string) =>
      (await (await fetch(`${fake.url}/api/v1/namespaces/shop/pods?${q}`)).json()) as {
        metadata: { resourceVersion: string; continue?: string };
        items: Array<{ metadata: { name: string; resourceVersion: string } }>;
      };
    const p1 = await get('limit=2');
    assert.deepEqual(
      p1.items.map((o) => o.metadata.name),
      ['a', 'b'],
    );
    const rvA = p1.items[0]!.metadata.resourceVersion;
    fake.apply('pods', fatPod('d', '10.0.0.2'));
    fake.apply('pods', { ...fatPod('c', '10.0.0.3') });
    const p2 = await get(`limit=2&continue=${p1.metadata.continue}`);
    assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
    assert.deepEqual(
      p2.items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
      [`c@${Number(rvA) + 2}`],
      'c as it was, no d',
    );
    assert.equal(p2.metadata.continue, undefined);
  } finally {
    await fake.close();
  }
});
