// The `tracing` block: off when absent, defaults, and the endpoint and ratio refused with a
// problem naming the field (src/config/tracing-schema.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../../src/config/parse.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { configProblems as problems } from '../../helpers/config-problems.js';

const resolved = (yaml: string): unknown => checkConfig(parseConfigText(yaml)).config.tracing;

test('absent: off; present: the defaults filled in', () => {
  assert.equal(resolved('policies: []'), undefined);
  assert.deepEqual(resolved('tracing: { otlp: { endpoint: "http://otel-collector.observability:4318/v1/traces" } }'), {
    otlp: { endpoint: 'http://otel-collector.observability:4318/v1/traces', timeoutSeconds: 10 },
    sampleRatio: 0.01,
    serviceName: 'zt-authz',
  });
  assert.deepEqual(
    resolved('tracing: { otlp: { endpoint: "https://c:4318/v1/traces", timeoutSeconds: 2.5 }, sampleRatio: 1, serviceName: authz }'),
    { otlp: { endpoint: 'https://c:4318/v1/traces', timeoutSeconds: 2.5 }, sampleRatio: 1, serviceName: 'authz' },
  );
  assert.equal(
    (resolved('tracing: { otlp: { endpoint: "http://c/v1/traces" }, sampleRatio: 0 }') as { sampleRatio: number }).sampleRatio,
    0,
  );
});

test('a bad endpoint URL is refused, naming tracing.otlp.endpoint', () => {
  for (const endpoint of ['otel-collector:4318', 'grpc://c:4317', '"ftp://c/v1/traces"', '""']) {
    const got = problems(`tracing: { otlp: { endpoint: ${endpoint} } }`);
    assert.equal(got.length, 1, `${endpoint}: ${got.join()}`);
    assert.match(got[0]!, /^tracing\.otlp\.endpoint: /, endpoint);
  }
  assert.deepEqual(problems('tracing: { otlp: { endpoint: "http://" } }'), ['tracing.otlp.endpoint: is not a valid URL']);
  assert.deepEqual(problems('tracing: { otlp: { endpoint: "http://[::1/v1/traces" } }'), ['tracing.otlp.endpoint: is not a valid URL']);
  assert.deepEqual(problems('tracing: { otlp: { endpoint: "https://user:pw@c/v1/traces" } }'), [
    'tracing.otlp.endpoint: must not hold credentials (user:password@); use OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  ]);
  // The credential itself is not echoed back.
  assert.doesNotMatch(problems('tracing: { otlp: { endpoint: "https://user:pw@c/v1/traces" } }').join(), /pw@/);
});

test('sampleRatio outside 0..1, a missing endpoint, a zero timeout and unknown keys are refused', () => {
  for (const ratio of ['1.5', '-0.1', '"half"']) {
    const got = problems(`tracing: { otlp: { endpoint: "http://c/v1/traces" }, sampleRatio: ${ratio} }`);
    assert.equal(got.length, 1, got.join());
    assert.match(got[0]!, /^tracing\.sampleRatio: /);
  }
  assert.match(problems('tracing: { sampleRatio: 0.5 }').join(), /tracing.*otlp/);
  assert.match(problems('tracing: { otlp: {} }').join(), /tracing\.otlp.*endpoint/);
  assert.match(
    problems('tracing: { otlp: { endpoint: "http://c/v1/traces", timeoutSeconds: 0 } }').join(),
    /^tracing\.otlp\.timeoutSeconds: /,
  );
  assert.match(problems('tracing: { otlp: { endpoint: "http://c/v1/traces" }, sampleRate: 0.5 }').join(), /tracing.*sampleRate/);
});
