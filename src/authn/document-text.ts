// The text of a credential document reloaded while serving (an API-key keys file or Secret, the
// revocation file) as plain data. JSON is YAML too, but the YAML parser runs on the thread that
// answers Checks and is about 60 times slower, so JSON text takes JSON.parse and YAML text is
// refused past a size the caller sets (with the caller's message saying to write JSON instead).
import { parseDocument } from 'yaml';
import { ConfigError } from '../config/problems.js';

export interface YamlLimit {
  maxYamlBytes: number;
  /** The whole problem message for YAML over maxYamlBytes. */
  tooLarge: string;
}

/**
 * The document as plain data (null for an empty YAML document): JSON when it is JSON, else YAML
 * up to `limit.maxYamlBytes`. Throws a ConfigError naming `origin` for an over-size or invalid
 * YAML document; the yaml library's alias-expansion limit throws its own error.
 */
export function parseDocumentText(text: string, origin: string, limit: YamlLimit): unknown {
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // not JSON after all: the YAML parser below says where it breaks
    }
  }
  if (Buffer.byteLength(text) > limit.maxYamlBytes) throw new ConfigError(origin, [{ path: '(file)', message: limit.tooLarge }]);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      origin,
      doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0] ?? 'invalid YAML' })),
    );
  }
  // Timestamps stay strings: times are checked as RFC 3339 text, not YAML 1.1's looser forms.
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}
