#!/usr/bin/env node
// Writes docs/configuration-reference.md from the configuration schema (ConfigSchema, the TypeBox
// schema `zt-authz validate` checks files against), so the reference lists exactly the keys the
// validator accepts, with their types, defaults, allowed values and descriptions. Nothing in the
// reference is written by hand: a key, default or description changes in src/config/, then here.
//
//   node scripts/gen-config-docs.mjs          write the file (npm run gen:config-docs)
//   node scripts/gen-config-docs.mjs --check  exit 1 when the file differs (test/unit/docs/config-docs.test.ts checks too)
//
// Needs a build first (npm run build): it reads dist/src/config/schema.js.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeOrCheck } from './generated-file.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(root, 'docs/configuration-reference.md');
export const REGENERATE = 'npm run build && npm run gen:config-docs';

/** Plain JSON copy of a TypeBox schema (drops TypeBox's symbol keys). */
const plain = (s) => JSON.parse(JSON.stringify(s));

/**
 * Schemas that `$ref` may name by `$id`: every exported schema of the compiled src/config/
 * modules. Loaded only when a reference needs it, so a schema without references imports
 * nothing else.
 */
async function schemasById() {
  const dir = join(root, 'dist/src/config');
  const byId = new Map();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()) {
    const mod = await import(pathToFileURL(join(dir, file)).href);
    for (const value of Object.values(mod)) {
      if (value && typeof value === 'object' && typeof value.$id === 'string') byId.set(value.$id, plain(value));
    }
  }
  return byId;
}

/** Every `$ref` target, resolved up front so the walk below can stay synchronous. */
async function resolver(schema) {
  const refs = new Set();
  const collect = (node) => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (node && typeof node === 'object') {
      if (typeof node.$ref === 'string') refs.add(node.$ref);
      Object.values(node).forEach(collect);
    }
  };
  collect(schema);
  const byId = [...refs].some((r) => !r.startsWith('#')) ? await schemasById() : new Map();
  // Referenced schemas may hold references of their own.
  for (const s of byId.values()) collect(s);
  const pointer = (ref) =>
    ref
      .slice(2)
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((node, key) => node?.[key], schema);
  return function deref(node, seen = new Set()) {
    if (!node || typeof node.$ref !== 'string') return node;
    const ref = node.$ref;
    if (seen.has(ref)) throw new Error(`circular $ref ${ref}`);
    const target = ref.startsWith('#/') ? pointer(ref) : byId.get(ref);
    if (!target) throw new Error(`unresolved $ref ${ref}`);
    const { $ref: _, ...rest } = node;
    return deref({ ...target, ...rest }, new Set([...seen, ref]));
  };
}

const code = (s) => {
  const text = String(s);
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
};
const cell = (s) =>
  String(s)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');
/** Schema prose as markdown text: `<iss>` is not an HTML tag and `*suffix` not emphasis (code spans kept). */
const prose = (s) =>
  String(s)
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 ? part : part.replace(/[\\*_<>[\]]/g, (c) => ({ '<': '&lt;', '>': '&gt;' })[c] ?? `\\${c}`)))
    .join('');
const isObject = (n) => n.type === 'object' || (!n.type && n.properties);
const isMap = (n) =>
  isObject(n) && !n.properties && (n.patternProperties || (n.additionalProperties && typeof n.additionalProperties === 'object'));
const mapValue = (n) => (n.patternProperties ? Object.values(n.patternProperties)[0] : n.additionalProperties);

function typeName(n, deref) {
  n = deref(n);
  const members = n.anyOf ?? n.oneOf;
  if (members) return [...new Set(members.map((m) => typeName(m, deref)))].join(' or ');
  if (n.const !== undefined) return typeof n.const;
  if (n.type === 'array') return `list of ${plural(typeName(n.items ?? {}, deref))}`;
  if (isMap(n)) return `map of string to ${typeName(mapValue(n), deref)}`;
  if (isObject(n)) return 'object';
  if (Array.isArray(n.type)) return n.type.join(' or ');
  return n.type ?? 'any';
}
const plural = (t) => (t.includes(' ') ? `(${t})` : t === 'any' ? 'values' : `${t}s`);

function constraints(n, deref) {
  n = deref(n);
  const out = [];
  const members = n.anyOf ?? n.oneOf;
  if (members) {
    for (const m of members) {
      const c = constraints(m, deref);
      if (c.length) out.push(`${typeName(m, deref)}: ${c.join(', ')}`);
    }
    return out;
  }
  if (n.enum) out.push(n.enum.map(code).join(', '));
  if (n.const !== undefined) out.push(code(JSON.stringify(n.const)));
  const lo = n.minimum ?? (n.exclusiveMinimum !== undefined ? `> ${n.exclusiveMinimum}` : undefined);
  const hi = n.maximum ?? (n.exclusiveMaximum !== undefined ? `< ${n.exclusiveMaximum}` : undefined);
  if (typeof lo === 'number' && typeof hi === 'number') out.push(`${lo}–${hi}`);
  else if (lo !== undefined) out.push(typeof lo === 'number' ? `≥ ${lo}` : lo);
  else if (hi !== undefined) out.push(typeof hi === 'number' ? `≤ ${hi}` : hi);
  if (n.minLength > 1 || n.maxLength !== undefined)
    out.push(n.maxLength !== undefined ? `length ${n.minLength ?? 0}–${n.maxLength}` : `length ≥ ${n.minLength}`);
  if (n.minLength === 1 && n.maxLength === undefined && !n.pattern && !n.enum) out.push('non-empty');
  if (n.pattern) out.push(`pattern ${code(n.pattern)}`);
  if (n.minItems !== undefined || n.maxItems !== undefined) {
    out.push(
      n.maxItems !== undefined ? `${n.minItems ?? 0}–${n.maxItems} items` : `at least ${n.minItems} item${n.minItems === 1 ? '' : 's'}`,
    );
  }
  if (n.uniqueItems) out.push('no duplicates');
  if (n.type === 'array' && n.items) {
    const items = deref(n.items);
    if (!isObject(items)) {
      const c = constraints(items, deref);
      if (c.length) out.push(`each: ${c.join(', ')}`);
    }
  }
  return out;
}

function defaultText(n, required) {
  if (n.default !== undefined) {
    if (isObject(n) && n.default && typeof n.default === 'object' && Object.keys(n.default).length === 0) return '';
    return code(JSON.stringify(n.default));
  }
  return required ? '**required**' : '';
}

/** One row per key path, depth first, in schema order. */
function rows(node, path, required, deref, out) {
  node = deref(node);
  const members = node.anyOf ?? node.oneOf;
  out.push({
    path,
    type: typeName(node, deref),
    default: defaultText(node, required),
    allowed: constraints(node, deref).join('; '),
    description: node.description ?? '',
    container: isObject(node) || (node.type === 'array' && isObject(deref(node.items ?? {}))),
  });
  const children = (obj, prefix) => {
    const req = new Set(obj.required ?? []);
    for (const [key, child] of Object.entries(obj.properties ?? {})) rows(child, `${prefix}.${key}`, req.has(key), deref, out);
    if (isMap(obj)) {
      const value = deref(mapValue(obj));
      if (isObject(value) && value.properties) children(value, `${prefix}.<name>`);
    }
  };
  if (members) {
    for (const m of members.map((x) => deref(x))) if (isObject(m)) children(m, path);
  } else if (node.type === 'array') {
    const items = deref(node.items ?? {});
    if (isObject(items)) children(items, `${path}[]`);
    for (const m of (items.anyOf ?? items.oneOf ?? []).map((x) => deref(x))) if (isObject(m)) children(m, `${path}[]`);
  } else if (isObject(node)) {
    children(node, path);
  }
}

/** The reference page, and the key paths that have no description (the test wants none). */
export async function configReferenceWithGaps() {
  const { ConfigSchema } = await import(pathToFileURL(join(root, 'dist/src/config/schema.js')).href);
  const schema = plain(ConfigSchema);
  const deref = await resolver(schema);
  const top = deref(schema);
  const required = new Set(top.required ?? []);
  const sections = Object.entries(top.properties).map(([key, node]) => {
    const r = [];
    rows(node, key, required.has(key), deref, r);
    const n = deref(node);
    return { key, heading: n.type === 'array' ? `${key}[]` : key, rows: r };
  });
  const gaps = sections.flatMap((s) => s.rows.filter((r) => !r.description).map((r) => r.path));

  const lines = [
    '<!-- Generated by scripts/gen-config-docs.mjs from the configuration schema (src/config/). Do not edit:',
    `     change the schema, then run: ${REGENERATE} -->`,
    '',
    '# Configuration reference',
    '',
    'Every key `zt-authz validate` and `serve` accept, generated from the schema they validate',
    'against. Keys not listed here are errors. `list[]` paths are the keys of each list item;',
    '`<name>` stands for a key of a map. A default shown here is applied when the key is absent;',
    '**required** keys must be present whenever their parent is. How the keys work together is in',
    'the [configuration guide](configuration.md).',
    '',
    ...sections.map((s) => `- [${code(s.heading)}](#${s.key.toLowerCase()})`),
  ];
  for (const s of sections) {
    lines.push('', `## ${code(s.heading)}`, '');
    const [head, ...rest] = s.rows;
    if (head.description) lines.push(cell(prose(head.description)), '');
    const facts = [`type: ${head.type}`, head.default && `default: ${head.default}`, head.allowed && `allowed: ${head.allowed}`].filter(
      Boolean,
    );
    lines.push(`${cell(facts.join('; '))}.`, '');
    if (rest.length) {
      lines.push('| key | type | default | allowed values | description |', '|---|---|---|---|---|');
      for (const r of rest) lines.push(`| ${[code(r.path), r.type, r.default, r.allowed, prose(r.description)].map(cell).join(' | ')} |`);
    }
  }
  return { text: `${lines.join('\n')}\n`, gaps };
}

export async function configReference() {
  return (await configReferenceWithGaps()).text;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  writeOrCheck(OUT, await configReference(), REGENERATE);
}
