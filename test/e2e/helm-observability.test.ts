// The chart's PrometheusRule (metrics.prometheusRule) and Grafana dashboard ConfigMap
// (metrics.dashboard) through real `helm template`: off by default, the shipped files embedded
// unchanged, and each value doing what values.yaml says. promtool checks of the rendered rules
// are in alerts.test.ts; the dashboard's queries against Prometheus in dashboard-prometheus.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART, helm, helmSkip, ofKind, one, render, valuesFile, type K8sObject } from '../helpers/helm.js';

const skip = helmSkip();
const ALERTS = parse(readFileSync(join(CHART, 'files', 'alerts.yaml'), 'utf8')) as { groups: Array<{ name: string; rules: K8sObject[] }> };
const DASHBOARD = JSON.parse(readFileSync(join(CHART, 'files', 'dashboard.json'), 'utf8')) as Record<string, unknown>;
const ALERT_NAMES = ALERTS.groups.flatMap((g) => g.rules.map((r) => r.alert as string));

const rule = (values: unknown, o: { namespace?: string } = {}): K8sObject =>
  one(render({ metrics: { prometheusRule: { enabled: true, ...(values as object) } } }, o), 'PrometheusRule');
const alertsOf = (pr: K8sObject): K8sObject[] => (pr.spec.groups as Array<{ rules: K8sObject[] }>).flatMap((g) => g.rules);
const dashboard = (values: unknown, o: { namespace?: string } = {}): K8sObject =>
  one(
    ofKind(render({ metrics: { dashboard: { enabled: true, ...(values as object) } } }, o), 'ConfigMap').filter((c) =>
      (c.metadata.name as string).endsWith('-dashboard'),
    ),
    'ConfigMap',
  );

test('defaults: no PrometheusRule and no dashboard ConfigMap', { skip }, () => {
  for (const mode of [{}, { mode: 'sidecar', sidecar: { namespaces: ['shop'] } }]) {
    const objs = render(mode);
    assert.equal(ofKind(objs, 'PrometheusRule').length, 0);
    assert.equal(ofKind(objs, 'ConfigMap').filter((c) => (c.metadata.name as string).endsWith('-dashboard')).length, 0);
  }
});

test('PrometheusRule: the file rule for rule, in the release namespace, with the chart labels and additionalLabels', { skip }, () => {
  const pr = rule({ additionalLabels: { release: 'kube-prometheus-stack' } }, { namespace: 'authz' });
  assert.equal(pr.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(pr.metadata.name, 'zt-authz');
  assert.equal(pr.metadata.namespace, 'authz');
  assert.equal(pr.metadata.labels.release, 'kube-prometheus-stack');
  assert.equal(pr.metadata.labels['app.kubernetes.io/name'], 'zt-authz');
  assert.deepEqual(pr.spec, ALERTS);
  assert.equal(rule({ namespace: 'monitoring' }).metadata.namespace, 'monitoring', 'namespace override');
});

test('PrometheusRule: per-alert overrides, ruleLabels, runbook URLs, additional groups', { skip }, () => {
  const extra = {
    name: 'my-zt-authz',
    rules: [{ alert: 'MyDenies', expr: 'sum(rate(zt_authz_decisions_total{decision="deny"}[5m])) > 100' }],
  };
  const pr = rule({
    ruleLabels: { team: 'platform', severity: 'info' },
    runbookBaseUrl: 'https://runbooks.example/zt-authz',
    alerts: {
      ZtAuthzLogLinesDropped: { enabled: false },
      ZtAuthzNotReady: { for: '30m', labels: { severity: 'page' } },
      ZtAuthzDenyRatioJump: { enabled: true },
    },
    additionalRuleGroups: [extra],
  });
  const byName = new Map(alertsOf(pr).map((r) => [r.alert as string, r]));
  assert.deepEqual(
    [...byName.keys()],
    [...ALERT_NAMES.filter((n) => n !== 'ZtAuthzLogLinesDropped'), 'MyDenies'],
    'one alert dropped, the extra group appended',
  );
  const notReady = byName.get('ZtAuthzNotReady')!;
  assert.equal(notReady.for, '30m');
  assert.deepEqual(notReady.labels, { severity: 'page', team: 'platform' }, "the override's labels win over the file's");
  const original = ALERTS.groups[0]!.rules.find((r) => r.alert === 'ZtAuthzDenyRatioJump')!;
  const jump = byName.get('ZtAuthzDenyRatioJump')!;
  assert.equal(jump.expr, original.expr, 'expr unchanged');
  assert.equal(jump.for, original.for);
  assert.deepEqual(jump.labels, { severity: 'warning', team: 'platform' }, "the file's severity wins over ruleLabels");
  assert.equal(jump.annotations.runbook_url, 'https://runbooks.example/zt-authz#ztauthzdenyratiojump');
  assert.equal(jump.annotations.summary, original.annotations.summary);
  assert.deepEqual(pr.spec.groups.at(-1), extra);
});

test('PrometheusRule: every alert can be disabled; a group left empty is not rendered', { skip }, () => {
  const pr = rule({ alerts: Object.fromEntries(ALERT_NAMES.map((n) => [n, { enabled: false }])) });
  assert.deepEqual(pr.spec.groups, []);
});

test('PrometheusRule values are checked: unknown alert names, bad durations and label names are refused', { skip }, () => {
  // The pinned Helm 3 and 4 write `at '/a/b': ...`; an older Helm 3 (ZT_HELM3_VERSION) writes `a.b: ...`.
  const cases: Array<[unknown, RegExp]> = [
    [{ alerts: { ZtAuthzNotReadyy: { enabled: false } } }, /metrics[./]prometheusRule[./]alerts\b[\s\S]*ZtAuthzNotReadyy/],
    [{ alerts: { ZtAuthzNotReady: { for: 'five minutes' } } }, /metrics[./]prometheusRule[./]alerts[./]ZtAuthzNotReady[./]for/],
    [{ ruleLabels: { 'team-name': 'x' } }, /metrics[./]prometheusRule[./]ruleLabels/],
    [{ alerts: { ZtAuthzNotReady: { severity: 'critical' } } }, /[Aa]dditional propert(y|ies) '?severity'? (is )?not allowed/],
  ];
  for (const [values, msg] of cases) {
    const r = helm([
      'template',
      'zt-authz',
      CHART,
      '-f',
      valuesFile({ metrics: { prometheusRule: { enabled: true, ...(values as object) } } }),
    ]);
    assert.notEqual(r.status, 0, JSON.stringify(values));
    assert.match(r.stderr, msg, JSON.stringify(values));
  }
  // The template refuses an unknown name too, when the schema is skipped.
  const r = helm([
    'template',
    'zt-authz',
    CHART,
    '--skip-schema-validation',
    '-f',
    valuesFile({ metrics: { prometheusRule: { enabled: true, alerts: { ZtAuthzNotReadyy: { enabled: false } } } } }),
  ]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /metrics\.prometheusRule\.alerts\.ZtAuthzNotReadyy: no such alert in files\/alerts\.yaml/);
});

test('dashboard ConfigMap: the JSON unchanged, with the grafana_dashboard label, in the release namespace', { skip }, () => {
  const cm = dashboard({}, { namespace: 'authz' });
  assert.equal(cm.metadata.name, 'zt-authz-dashboard');
  assert.equal(cm.metadata.namespace, 'authz');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  assert.equal(cm.metadata.labels['app.kubernetes.io/name'], 'zt-authz');
  assert.deepEqual(Object.keys(cm.data), ['zt-authz.json']);
  assert.deepEqual(JSON.parse(cm.data['zt-authz.json'] as string), DASHBOARD);
});

test('dashboard ConfigMap: label key and value, namespace, extra labels and annotations from values', { skip }, () => {
  const cm = dashboard({
    namespace: 'monitoring',
    label: 'grafana.example/dashboard',
    labelValue: 'zt',
    additionalLabels: { team: 'platform' },
    annotations: { grafana_folder: 'Security' },
  });
  assert.equal(cm.metadata.namespace, 'monitoring');
  assert.equal(cm.metadata.labels['grafana.example/dashboard'], 'zt');
  assert.equal(cm.metadata.labels.grafana_dashboard, undefined);
  assert.equal(cm.metadata.labels.team, 'platform');
  assert.deepEqual(cm.metadata.annotations, { grafana_folder: 'Security' });
});

test('helm lint passes with both enabled', { skip }, () => {
  const r = helm(['lint', CHART, '-f', valuesFile({ metrics: { prometheusRule: { enabled: true }, dashboard: { enabled: true } } })]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
});
