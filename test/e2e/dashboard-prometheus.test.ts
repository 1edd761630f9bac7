// The chart's Grafana dashboard (charts/zt-authz/files/dashboard.json) against a real Prometheus
// (the Debian binary) scraping a real `zt-authz serve` every second under gRPC traffic: allows,
// denies by several reasons and policies, a JWKS issuer, fresh and reused tokens. Every panel
// target's expr, with Grafana's variables substituted as Grafana would, goes through
// /api/v1/query and must parse and return a finite value; with a job no series carries it must
// return nothing (each query honours the dashboard's variables). The same Prometheus loads the
// chart's alert rules (files/alerts.yaml): every rule evaluates without error against the real
// series, and none fires on this healthy service.
// Needs the Debian package prometheus (scripts/ci-deps.sh); skipped without it, failed under CI=true.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestIdp } from '../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../helpers/grpc-client.js';
import { freePort, sleep } from '../helpers/app.js';
import { CLI } from '../helpers/cli.js';
import { missingBinaries, startProc, tempDir, waitForHttp, type Proc } from './helpers/procs.js';
import { promQuery, startPrometheus } from './helpers/prometheus.js';
import { REPO_ROOT } from './helpers/docs-snippets.js';

const DASHBOARD_FILE = join(REPO_ROOT, 'charts/zt-authz/files/dashboard.json');
const ALERTS_FILE = join(REPO_ROOT, 'charts/zt-authz/files/alerts.yaml');
/** Prometheus scrapes every second; the Grafana datasource's "scrape interval" says the same. */
const SCRAPE_S = 1;
const NAMESPACE = 'zt-dash';
const JOB = 'zt-authz';

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  allValue?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })));
const BUILTINS = new Set(['__rate_interval', '__interval', '__range']);

interface Selection {
  namespace: string;
  job: string;
}
interface Times {
  /** The dashboard's time range, seconds. */
  rangeS: number;
}

/**
 * An expr as Grafana sends it to Prometheus. $__interval: the range over ~1000 data points, at
 * least the scrape interval; $__rate_interval: max($__interval + scrape interval, 4 × scrape
 * interval); $__range: the time range. A multi-value variable set to All becomes its allValue
 * (`.*`), one value becomes that value regex-escaped (the variables sit in =~ matchers).
 */
function grafanaExpr(expr: string, sel: Selection, t: Times): string {
  const interval = Math.max(SCRAPE_S, Math.ceil(t.rangeS / 1000));
  const builtins: Record<string, string> = {
    __interval: `${interval}s`,
    __rate_interval: `${Math.max(interval + SCRAPE_S, 4 * SCRAPE_S)}s`,
    __range: `${Math.max(1, Math.round(t.rangeS))}s`,
  };
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (name in builtins) return builtins[name]!;
    if (name === 'namespace' || name === 'job') return sel[name] === '.*' ? '.*' : sel[name].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    throw new Error(`unknown variable $${name} in ${expr}`);
  });
}

const ALL: Selection = { namespace: '.*', job: '.*' };

describe('dashboard JSON: a Grafana dashboard the sidecar can load', () => {
  it('has uid, title, schemaVersion, unique panel ids, non-overlapping grid positions', () => {
    assert.match(dashboard.uid, /^[A-Za-z0-9_-]{1,40}$/, 'uid: at most 40 URL-safe characters');
    assert.ok(dashboard.title.length > 0, 'title');
    assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    const ids = panels.map((p) => p.id);
    assert.ok(
      ids.every((id) => Number.isInteger(id) && id > 0),
      'every panel has a positive integer id',
    );
    assert.equal(new Set(ids).size, ids.length, `panel ids unique: ${ids.join(',')}`);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${p.title}: gridPos within 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const at = `${x},${y}`;
          assert.equal(cells.get(at), undefined, `${p.title} overlaps ${cells.get(at)} at ${at}`);
          cells.set(at, p.title);
        }
    }
  });

  it('every query panel reads the datasource variable; refIds unique per panel; every query filters by $namespace and $job', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('datasource')?.type, 'datasource');
    assert.equal(vars.get('datasource')?.query, 'prometheus');
    for (const name of ['namespace', 'job']) {
      assert.equal(vars.get(name)?.type, 'query', `${name} variable`);
      assert.equal(vars.get(name)?.allValue, '.*', `${name}: All matches series without the label too`);
    }
    const queryPanels = panels.filter((p) => p.type !== 'row');
    assert.ok(queryPanels.length >= 10, `${queryPanels.length} panels`);
    for (const p of queryPanels) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: datasource`);
      assert.ok(p.targets?.length, `${p.title}: has targets`);
      const refIds = p.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds unique`);
      for (const t of p.targets) {
        assert.match(t.expr, /namespace=~"\$namespace"/, `${p.title} ${t.refId}: filters by $namespace`);
        assert.match(t.expr, /job=~"\$job"/, `${p.title} ${t.refId}: filters by $job`);
        for (const m of t.expr.matchAll(/\$\{?(\w+)/g))
          assert.ok(vars.has(m[1]!) || BUILTINS.has(m[1]!), `${p.title} ${t.refId}: $${m[1]} is defined`);
      }
    }
  });
});

const missing = missingBinaries(['prometheus']);
if (missing) {
  console.error(`\n${'!'.repeat(100)}\n!! dashboard e2e SKIPPED: ${missing}\n${'!'.repeat(100)}\n`);
  it('dashboard queries against real Prometheus', { skip: `not installed: ${missing}` }, () => {});
}

describe('dashboard queries against real Prometheus scraping zt-authz under traffic', { skip: missing ?? false, timeout: 120_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let idp: TestIdp;
  let zt: Proc;
  let prom: Proc;
  let client: AuthClient;
  const port = { grpc: 0, admin: 0, prom: 0 };
  let trafficStart = 0;
  let stopTraffic = false;
  let traffic: Promise<void> = Promise.resolve();
  const sent = new Map<string, number>();

  /** Checks until stopped: allows, denies by several reasons and policies, new and reused tokens. */
  async function drive(): Promise<void> {
    let reader = await idp.sign({ scope: 'orders:read' });
    const writer = await idp.sign({ scope: 'orders:write' });
    for (let i = 0; !stopTraffic; i++) {
      // A fresh token now and then: cache misses beside the hits.
      if (i % 40 === 0) reader = await idp.sign({ scope: 'orders:read', n: i });
      const cases: Array<[string, Parameters<typeof checkRequest>[0]]> = [
        ['allow orders-read', { path: `/orders/${i}`, token: reader }],
        ['allow public', { path: '/public/catalog' }],
        ['deny no token', { path: `/orders/${i}` }],
        ['deny block-admin', { path: '/admin/users', token: reader }],
        ['deny scope', { path: `/orders/${i}`, token: writer }],
        ['deny bad token', { path: '/orders/1', token: 'not-a-jwt' }],
      ];
      await Promise.all(
        cases.map(async ([what, req]) => {
          await check(client, checkRequest(req));
          sent.set(what, (sent.get(what) ?? 0) + 1);
        }),
      );
      await sleep(20);
    }
  }

  before(async () => {
    tmp = tempDir('zt-dash-');
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    idp = await TestIdp.start({ audience: 'orders' });
    const cfg = join(tmp.dir, 'zt-authz.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${port.grpc}", http: "127.0.0.1:0", admin: "127.0.0.1:${port.admin}", drainSeconds: 1 }
issuers:
  - { issuer: "${idp.issuer}", jwksUri: "${idp.jwksUri}", audiences: [orders] }
policies:
  - name: public
    rules: [{ to: [{ operation: { paths: ["/public/*"] } }] }]
  - name: orders-read
    rules:
      - from: [{ source: { requestPrincipals: ["*"] } }]
        to: [{ operation: { methods: [GET], paths: ["/orders/*"] } }]
        when: [{ key: "request.auth.claims[scope]", values: ["orders:read"] }]
  - name: block-admin
    action: DENY
    rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }]
`,
    );
    zt = startProc('zt-authz', process.execPath, [CLI, 'serve', '--config', cfg]);
    const [p] = await Promise.all([
      startPrometheus(tmp.dir, port.prom, port.admin, { labels: { namespace: NAMESPACE }, ruleFiles: [ALERTS_FILE] }),
      waitForHttp(`http://127.0.0.1:${port.admin}/readyz`, zt, 20_000),
    ]);
    prom = p;
    client = authV3Client(port.grpc);
    trafficStart = Date.now();
    traffic = drive();
    // Enough scrapes under traffic for every $__rate_interval window (4 s) to hold several samples.
    const end = Date.now() + 40_000;
    for (;;) {
      const r = await promQuery(port.prom, `count_over_time(zt_authz_ready{job="${JOB}"}[1m])`).catch(() => []);
      if (Date.now() - trafficStart > 6000 && Number(r[0]?.value[1] ?? 0) >= 8) break;
      if (Date.now() > end) throw new Error(`Prometheus did not scrape zt-authz:\n${prom.output()}\n${zt.output()}`);
      await sleep(250);
    }
  });

  after(async () => {
    stopTraffic = true;
    await traffic.catch(() => undefined);
    if (client) closeAll(client);
    await Promise.all([zt?.stop(), prom?.stop()]);
    await idp?.close();
    tmp?.remove();
  });

  it('the traffic reached zt-authz: every kind of request was sent', () => {
    for (const what of ['allow orders-read', 'allow public', 'deny no token', 'deny block-admin', 'deny scope', 'deny bad token'])
      assert.ok((sent.get(what) ?? 0) > 10, `${what}: ${sent.get(what)}`);
  });

  it('the namespace and job variables list the scraped zt-authz (label_values through the label API)', async () => {
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q);
      assert.ok(m, `${v.name}: label_values(metric, label): ${q}`);
      const match = grafanaExpr(m[1]!, ALL, { rangeS: 300 });
      const res = await fetch(`http://127.0.0.1:${port.prom}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(match)}`);
      const body = (await res.json()) as { status: string; data: string[] };
      assert.equal(body.status, 'success', `${v.name}: ${JSON.stringify(body)}`);
      assert.ok(body.data.includes(v.name === 'namespace' ? NAMESPACE : JOB), `${v.name}: ${body.data.join(',')}`);
    }
  });

  for (const [label, sel] of [
    ['All', ALL],
    ['one namespace and job', { namespace: NAMESPACE, job: JOB }],
  ] as const) {
    it(`every panel query parses and returns a finite value (variables: ${label})`, async () => {
      const rangeS = (Date.now() - trafficStart) / 1000;
      const failures: string[] = [];
      for (const q of queries) {
        const expr = grafanaExpr(q.expr, sel, { rangeS });
        try {
          const result = await promQuery(port.prom, expr);
          if (!result.length) failures.push(`${q.panel} ${q.refId}: no data: ${expr}`);
          else if (!result.some((s) => Number.isFinite(Number(s.value[1]))))
            failures.push(`${q.panel} ${q.refId}: no finite value (${result.map((s) => s.value[1]).join(',')}): ${expr}`);
        } catch (err) {
          failures.push(`${q.panel} ${q.refId}: ${(err as Error).message}: ${expr}`);
        }
      }
      assert.deepEqual(failures, [], `${failures.length} of ${queries.length} queries failed`);
    });
  }

  it('with a job no series has, every panel query returns nothing (no query ignores the variables)', async () => {
    const rangeS = (Date.now() - trafficStart) / 1000;
    for (const q of queries) {
      const result = await promQuery(port.prom, grafanaExpr(q.expr, { namespace: NAMESPACE, job: 'other-job' }, { rangeS }));
      assert.deepEqual(result, [], `${q.panel} ${q.refId}`);
    }
  });

  it('the alert rules load and evaluate without error against the real series; none fires on this healthy service', async () => {
    const expected = (readFileSync(ALERTS_FILE, 'utf8').match(/^\s+- alert: /gm) ?? []).length;
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string; state: string };
    let rules: Rule[];
    const end = Date.now() + 10_000;
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${port.prom}/api/v1/rules?type=alert`);
      const body = (await res.json()) as { data: { groups: Array<{ rules: Rule[] }> } };
      rules = body.data.groups.flatMap((g) => g.rules);
      if (rules.length === expected && rules.every((r) => !r.lastEvaluation.startsWith('0001'))) break;
      if (Date.now() > end) break;
      await sleep(250);
    }
    assert.equal(rules.length, expected, 'every alert of the file is loaded');
    for (const r of rules) {
      assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
      assert.notEqual(r.state, 'firing', `${r.name} fires on a healthy service`);
    }
  });
});
