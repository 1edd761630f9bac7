// Configuration text → a plain value (YAML or JSON), and the file reading around it.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from './problems.js';

export function parseConfigText(text: string, source = 'config'): unknown {
  // JSON is YAML too, but the YAML parser takes ~100× longer on large generated configs
  // (10,000 policies: ~10 s and ~500 MB vs ~0.1 s). Invalid JSON falls through to YAML, which
  // gives the precise error.
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      /* not JSON after all */
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      // The library's whole message: "… at line L, column C:" and the code frame (the excerpt with
      // a caret), indented under the problem so it reads as one entry of the list.
      doc.errors.map((err) => ({ path: '(yaml)', message: err.message.trimEnd().replace(/\n/g, '\n      ') })),
    );
  }
  return doc.toJS() ?? {};
}

/** The text of a configuration file; an unreadable file is a ConfigError naming it. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
}
