// The problems resolveConfig reports for a YAML config, as "path: message" lines ([] when valid).
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/problems.js';
import { parseConfigText } from '../../src/config/parse.js';
import { checkConfig } from '../../src/snapshot/checked-config.js';

export function configProblems(yaml: string): string[] {
  try {
    checkConfig(parseConfigText(yaml));
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}
