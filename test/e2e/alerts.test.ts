// The chart's alerts (charts/zt-authz/files/alerts.yaml) through Debian's promtool (Prometheus
// 2.42, what scripts/ci-deps.sh installs): `promtool check rules` on the file and on the
// PrometheusRule spec helm renders from it, and `promtool test rules` with
// test/fixtures/alerts/alerts-test.yaml on both, where every alert has series that fire it and
// series that must not. Skipped without promtool; failed under CI=true.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CHART, ROOT, helmSkip, one, render } from '../helpers/helm.js';
import { findBinary, missingBinaries, runSync } from './helpers/procs.js';

const ALERTS_FILE = join(CHART, 'files', 'alerts.yaml');
const TEST_FILE = join(ROOT, 'test', 'fixtures', 'alerts', 'alerts-test.yaml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface PromtoolTests {
  rule_files: string[];
  tests: Array<{
    name?: string;
    input_series: Array<{ series: string; values: string }>;
    alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: Array<{ exp_labels?: Record<string, string> }> }>;
  }>;
}

const ruleFile = parse(readFileSync(ALERTS_FILE, 'utf8')) as RuleFile;
const alerts = ruleFile.groups.flatMap((g) => g.rules).filter((r) => r.alert);
const promtoolTests = parse(readFileSync(TEST_FILE, 'utf8')) as PromtoolTests;

const tmp = mkdtempSync(join(tmpdir(), 'zt-alerts-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('alerts.yaml: the rules and their tests', () => {
  it('nine alerts, each with a severity, summary and description, and only rule fields Prometheus 2.42 reads', () => {
    assert.deepEqual(
      alerts.map((a) => a.alert),
      [
        'ZtAuthzNotReady',
        'ZtAuthzJwksRefreshErrors',
        'ZtAuthzReloadErrors',
        'ZtAuthzTlsCertificateExpiringSoon',
        'ZtAuthzLoadShedding',
        'ZtAuthzLogLinesDropped',
        'ZtAuthzDryRunPodsHonoured',
        'ZtAuthzDenyRatioJump',
        'ZtAuthzDecisionLatencyHigh',
      ],
    );
    for (const g of ruleFile.groups) {
      assert.deepEqual(
        Object.keys(g).filter((k) => !['name', 'rules', 'interval', 'limit'].includes(k)),
        [],
        `group ${g.name}`,
      );
      for (const r of g.rules) {
        // keep_firing_for and group query_offset are newer than 2.42.
        assert.deepEqual(
          Object.keys(r).filter((k) => !['alert', 'record', 'expr', 'for', 'labels', 'annotations'].includes(k)),
          [],
          `${r.alert}`,
        );
      }
    }
    for (const a of alerts) {
      assert.ok(['critical', 'warning'].includes(a.labels?.severity ?? ''), `${a.alert}: severity`);
      assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
    }
  });

  it('docs/observability.md has a runbook paragraph under Alerts for every alert', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'observability.md'), 'utf8');
    const section = doc.split(/^## /m).find((s) => s.startsWith('Alerts'));
    assert.ok(section, 'docs/observability.md: ## Alerts');
    for (const a of alerts) assert.match(section, new RegExp(`^### ${a.alert}\\n\\n\\S`, 'm'), `### ${a.alert}`);
  });

  it('the promtool tests cover every alert: series of a "-fires" job fire it, series of a "-quiet" job are present and never expected', () => {
    assert.deepEqual(promtoolTests.rule_files, ['../../../charts/zt-authz/files/alerts.yaml']);
    for (const a of alerts) {
      const tests = promtoolTests.tests.filter((t) => t.alert_rule_test?.some((r) => r.alertname === a.alert));
      assert.ok(tests.length, `${a.alert}: an alert_rule_test`);
      const jobs = tests.flatMap((t) => t.input_series.map((s) => /job="([^"]+)"/.exec(s.series)?.[1] ?? ''));
      const expected = tests.flatMap((t) =>
        (t.alert_rule_test ?? [])
          .filter((r) => r.alertname === a.alert)
          .flatMap((r) => (r.exp_alerts ?? []).map((e) => e.exp_labels?.job ?? '')),
      );
      assert.ok(
        expected.some((j) => j.endsWith('-fires')),
        `${a.alert}: expected to fire for a -fires job`,
      );
      assert.ok(
        expected.every((j) => j.endsWith('-fires')),
        `${a.alert}: never expected for a quiet job (${expected.join(',')})`,
      );
      assert.ok(
        jobs.some((j) => /-quiet(-|$)/.test(j)),
        `${a.alert}: has series that must not fire it`,
      );
    }
  });
});

const missing = missingBinaries(['promtool']);
if (missing) {
  console.error(`\n${'!'.repeat(100)}\n!! promtool tests SKIPPED: ${missing}\n${'!'.repeat(100)}\n`);
  it('promtool check/test rules', { skip: `not installed: ${missing}` }, () => {});
}

describe('promtool (Prometheus 2.42)', { skip: missing ?? false }, () => {
  const promtool = (args: string[]) => runSync(findBinary('promtool')!, args);

  it('is the Debian 2.42 the rules are written for (or newer)', () => {
    const r = promtool(['--version']);
    const m = /version (\d+)\.(\d+)/.exec(r.output);
    assert.ok(m, r.output);
    assert.ok(Number(m[1]) > 2 || Number(m[2]) >= 42, r.output);
  });

  it('check rules: the shipped file', () => {
    const r = promtool(['check', 'rules', ALERTS_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('test rules: every alert fires on its "-fires" series and not on the quiet ones', () => {
    const r = promtool(['test', 'rules', TEST_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  describe('the PrometheusRule the chart renders', { skip: helmSkip() }, () => {
    const spec = (values: unknown): RuleFile =>
      one(render({ metrics: { prometheusRule: { enabled: true, ...(values as object) } } }), 'PrometheusRule').spec as RuleFile;
    /** The spec as a rule file, and the promtool tests pointed at it. */
    const asFiles = (name: string, s: RuleFile): { rules: string; tests: string } => {
      const rules = join(tmp, `${name}.yaml`);
      writeFileSync(rules, stringify(s));
      const tests = join(tmp, `${name}-test.yaml`);
      writeFileSync(tests, stringify({ ...promtoolTests, rule_files: [rules] }));
      return { rules, tests };
    };

    it('with default values its groups are the file', () => {
      assert.deepEqual(spec({}), ruleFile);
    });

    it('check rules and test rules pass on it', () => {
      const f = asFiles('rendered', spec({}));
      let r = promtool(['check', 'rules', f.rules]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
      r = promtool(['test', 'rules', f.tests]);
      assert.equal(r.status, 0, r.output);
    });

    it('with overrides (an alert disabled, a for, ruleLabels, runbook URLs) it still checks, and the tests see the changes', () => {
      const s = spec({
        ruleLabels: { team: 'platform' },
        runbookBaseUrl: 'https://runbooks.example/zt-authz',
        alerts: { ZtAuthzLogLinesDropped: { enabled: false }, ZtAuthzNotReady: { for: '30m' } },
      });
      const f = asFiles('overridden', s);
      let r = promtool(['check', 'rules', f.rules]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${alerts.length - 1} rules found`));
      r = promtool(['test', 'rules', f.tests]);
      // The fixture expects labels and annotations without team/runbook_url, NotReady at 10m
      // (now pending until 30m), and LogLinesDropped (now absent): promtool reports each.
      assert.notEqual(r.status, 0, r.output);
      assert.match(r.output, /alertname: ZtAuthzNotReady/);
      assert.match(r.output, /runbook_url="https:\/\/runbooks\.example\/zt-authz#ztauthzdenyratiojump"/);
      assert.match(r.output, /team="platform"/);
      assert.match(r.output, /alertname: ZtAuthzLogLinesDropped[\s\S]*?got:\[\]/);
    });
  });
});
