// Every relative link in README.md and docs/*.md resolves: the file (or folder) exists, and a
// `#anchor` names a heading of the target page, spelled as GitHub spells heading anchors. The
// docs are split by topic and link to each other a lot; a renamed heading must fail here, not
// in a reader's browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** The page without fenced code blocks and inline code spans, where `[x](y)` is not a link. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/(`+)[\s\S]*?\1/g, '');
}

/** GitHub's heading anchor: lower case, punctuation dropped (not `-` or `_`), spaces to `-`. */
function slug(heading: string): string {
  return heading
    .replace(/<[^>]+>/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let set = anchorCache.get(file);
  if (set) return set;
  set = new Set();
  const seen = new Map<string, number>();
  const text = readFileSync(file, 'utf8').replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of text.matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    set.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of text.matchAll(/<a (?:name|id)="([^"]+)"/g)) set.add(m[1]!);
  anchorCache.set(file, set);
  return set;
}

function links(text: string): string[] {
  return [...prose(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

test('README.md and docs/*.md: every relative link and #anchor resolves', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const file = join(ROOT, page);
    for (const link of links(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:: not ours to check
      checked++;
      const hash = link.indexOf('#');
      const path = hash < 0 ? link : link.slice(0, hash);
      const anchor = hash < 0 ? '' : decodeURIComponent(link.slice(hash + 1));
      const target = path === '' ? file : join(dirname(file), decodeURIComponent(path));
      if (!target.startsWith(ROOT)) {
        broken.push(`${page}: ${link} leaves the repository`);
        continue;
      }
      if (!existsSync(target)) {
        broken.push(`${page}: ${link}: no such file ${relative(ROOT, target)}`);
        continue;
      }
      if (anchor) {
        if (statSync(target).isDirectory() || !target.endsWith('.md'))
          broken.push(`${page}: ${link}: an anchor on a file that is not markdown`);
        else if (!anchors(target).has(anchor)) broken.push(`${page}: ${link}: no heading "#${anchor}" in ${relative(ROOT, target)}`);
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} relative links found: is the link parser still right?`);
  assert.deepEqual(broken, []);
});

test('the heading anchor rule matches GitHub on the shapes the docs use', () => {
  assert.equal(slug('HTTP mode: nginx, ingress-nginx and Envoy http_service'), 'http-mode-nginx-ingress-nginx-and-envoy-http_service');
  assert.equal(slug('`issuers[]` (Istio `jwtRules` vocabulary)'), 'issuers-istio-jwtrules-vocabulary');
  assert.equal(slug('Envoy `http_service`'), 'envoy-http_service');
  assert.equal(slug('Pod IP → workload'), 'pod-ip--workload');
});

test('README.md and docs/ name no file outside the repository and no tracker issue', () => {
  const found: string[] = [];
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const re of [
      /DESIGN\.md/g,
      /shared\/reference\//g,
      /(?<![\w/.-])reference\/[\w-]+\.md/g,
      /\bissue #?\d+/gi,
      /\bscenario \d+ of issue\b/gi,
    ]) {
      for (const m of text.matchAll(re)) found.push(`${page}: ${m[0]}`);
    }
  }
  assert.deepEqual(found, []);
});
