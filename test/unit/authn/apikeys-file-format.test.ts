// Keys documents are parsed on the thread that answers Checks: JSON (which is YAML too) takes the
// fast path, and YAML is refused past MAX_YAML_BYTES with a message that says to use JSON, so a
// large key list cannot stall request handling for seconds on every file or Secret change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { MAX_YAML_BYTES, parseKeysFile } from '../../../src/authn/apikeys/keys-file.js';
import { ConfigError } from '../../../src/config/problems.js';

function entries(n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({
    name: `key-${i}`,
    sha256: createHash('sha256').update(`zt_example_${i}`).digest('hex'),
    subject: `client-${i % 50}`,
    scopes: ['orders:read'],
    claims: { tenant: `t${i % 7}` },
    expiresAt: '2030-01-01T00:00:00Z',
  }));
}

test('the same entries read the same from JSON and from YAML', () => {
  const doc = { keys: entries(200) };
  const fromYaml = parseKeysFile(stringify(doc), 'keys.yaml');
  const fromJson = parseKeysFile(JSON.stringify(doc), 'keys.json');
  assert.equal(fromJson.length, 200);
  assert.deepEqual(fromJson, fromYaml);
});

test('YAML over MAX_YAML_BYTES is refused naming JSON; the same list as JSON loads', () => {
  const doc = { keys: entries(3000) };
  const yamlText = stringify(doc);
  assert.ok(Buffer.byteLength(yamlText) > MAX_YAML_BYTES, 'the fixture is over the YAML limit');
  assert.throws(
    () => parseKeysFile(yamlText, 'big.yaml'),
    (err: unknown) => err instanceof ConfigError && /write a long key list as JSON/.test(err.message),
  );
  assert.equal(parseKeysFile(JSON.stringify(doc), 'big.json').length, 3000);
});

test('JSON is still checked like YAML: a bad hash and a duplicate name are named by field', () => {
  const list = entries(3);
  list[1]!.sha256 = 'not-hex';
  list[2]!.name = 'key-0';
  assert.throws(
    () => parseKeysFile(JSON.stringify({ keys: list }), 'bad.json'),
    (err: unknown) => err instanceof ConfigError && /keys\[1\]\.sha256/.test(err.message) && /keys\[2\]\.name/.test(err.message),
  );
});

test('an expiresAt that is not a calendar date is refused, not rolled over to the next month', () => {
  const list = entries(2);
  list[0]!.expiresAt = '2027-02-30T00:00:00Z';
  list[1]!.expiresAt = '2027-02-28T23:00:00-05:00'; // 1 March in UTC, but a real date where it was written
  assert.throws(
    () => parseKeysFile(JSON.stringify({ keys: list }), 'dates.json'),
    (err: unknown) => err instanceof ConfigError && /keys\[0\]\.expiresAt/.test(err.message) && !/keys\[1\]/.test(err.message),
  );
});

test('JSON with a key written twice in one object is refused like YAML (a second "expiresAt": null must not give a key no expiry)', () => {
  const one = JSON.stringify(entries(1)[0]).slice(0, -1);
  for (const text of [
    `{"keys":[${one},"expiresAt":null}]}`,
    `{"keys":[${one},"expires\\u0041t":null}]}`, // an escaped spelling of the same key
    `{"keys":[${JSON.stringify(entries(1)[0])}],"keys":[]}`,
  ]) {
    assert.doesNotThrow(() => JSON.parse(text), 'valid JSON, which JSON.parse would take keeping the last value');
    assert.throws(
      () => parseKeysFile(text, 'dup.json'),
      (err: unknown) => err instanceof ConfigError && /appears twice in one object/.test(err.message),
      text,
    );
  }
  // Equal keys in different objects, and strings that look like keys inside values, are fine.
  const ok = { keys: entries(3).map((e) => ({ ...e, claims: { tenant: '{"name":"x","name":"y"}', name: 'n' } })) };
  assert.equal(parseKeysFile(JSON.stringify(ok), 'ok.json').length, 3);
});
