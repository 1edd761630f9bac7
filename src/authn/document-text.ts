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
    let data: unknown;
    try {
      data = JSON.parse(text) as unknown;
    } catch {
      // not JSON after all: the YAML parser below says where it breaks
    }
    if (data !== undefined) {
      const dup = firstDuplicateKey(text);
      if (dup !== undefined) throw new ConfigError(origin, [{ path: '(json)', message: `key "${dup}" appears twice in one object` }]);
      return data;
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

/**
 * The first key written twice in one object of a text JSON.parse accepted, or undefined.
 * JSON.parse keeps the last of two equal keys without a word, so a keys file with a second
 * `"expiresAt": null` would give a key no expiry; the YAML path refuses that with `uniqueKeys`,
 * and this keeps the JSON fast path as strict. One pass, no second parse (the text is valid
 * JSON, so only strings, braces, brackets and commas need telling apart).
 */
function firstDuplicateKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = []; // a Set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') expectKey = stack[stack.length - 1] != null;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, j + 1)) as string; // "\u0061" and "a" are one key
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return undefined;
}
