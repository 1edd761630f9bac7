// The problems resolveConfig reports for a YAML config, as "path: message" lines ([] when valid).
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText, resolveConfig } from '../../src/config/load.js';

export function configProblems(yaml: string): string[] {
  try {
    resolveConfig(parseConfigText(yaml));
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}
