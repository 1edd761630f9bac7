// The README's "HTTP mode" snippets, parsed, so the tests run exactly what the README shows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SECTION_TITLE = '## HTTP mode: nginx, ingress-nginx and Envoy http_service';
/** The nginx snippet file the README shows and the e2e nginx includes. */
export const NGINX_SNIPPET_FILE = `${REPO_ROOT}scripts/e2e/nginx/zt-authz-locations.conf`;

export function httpSection(): string {
  const text = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
  const start = text.indexOf(`\n${SECTION_TITLE}\n`);
  if (start < 0) throw new Error(`README has no "${SECTION_TITLE}" section`);
  const end = text.indexOf('\n## ', start + SECTION_TITLE.length + 2);
  return text.slice(start, end < 0 ? undefined : end);
}

export function codeBlocks(section = httpSection()): Array<{ lang: string; body: string }> {
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

function block(lang: string, contains: string): string {
  const b = codeBlocks().find((x) => x.lang === lang && x.body.includes(contains));
  if (!b) throw new Error(`README HTTP section has no \`\`\`${lang} block containing "${contains}"`);
  return b.body;
}

export function readmeNginxSnippet(): string {
  return block('nginx', 'auth_request');
}

export interface IngressAnnotations {
  authUrl: URL;
  responseHeaders: string[];
  /** auth-proxy-set-headers: the named ConfigMap's data (header → nginx value), shown in the same block. */
  proxySetHeaders: Record<string, string>;
}

interface K8sDoc {
  kind?: string;
  metadata: { name?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export function readmeIngressAnnotations(): IngressAnnotations {
  const docs = parseAllDocuments(block('yaml', 'nginx.ingress.kubernetes.io/auth-url')).map((d) => d.toJS() as K8sDoc);
  const a = docs.find((d) => d.metadata?.annotations?.['nginx.ingress.kubernetes.io/auth-url'])!.metadata.annotations!;
  const cmName = a['nginx.ingress.kubernetes.io/auth-proxy-set-headers'];
  if (!cmName) throw new Error('README ingress-nginx block lacks the auth-proxy-set-headers annotation');
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === cmName);
  if (!cm?.data) throw new Error(`README ingress-nginx block lacks the ConfigMap "${cmName}" that auth-proxy-set-headers names`);
  return {
    authUrl: new URL(a['nginx.ingress.kubernetes.io/auth-url']!),
    responseHeaders: (a['nginx.ingress.kubernetes.io/auth-response-headers'] ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    proxySetHeaders: cm.data,
  };
}

export type StringMatcher = { exact?: string; prefix?: string; suffix?: string; contains?: string; ignore_case?: boolean };

export interface EnvoyHttpService {
  failureModeAllow: boolean;
  pathPrefix: string;
  allowedHeaders: StringMatcher[];
  allowedUpstreamHeaders: StringMatcher[];
}

interface ExtAuthzYaml {
  http_filters: Array<{
    name: string;
    typed_config: {
      failure_mode_allow?: boolean;
      http_service: {
        path_prefix?: string;
        authorization_request?: { allowed_headers?: { patterns: StringMatcher[] } };
        authorization_response?: { allowed_upstream_headers?: { patterns: StringMatcher[] } };
      };
    };
  }>;
}

export function readmeEnvoyHttpService(): EnvoyHttpService {
  const doc = parse(block('yaml', 'http_service:')) as ExtAuthzYaml;
  const f = doc.http_filters.find((x) => x.name === 'envoy.filters.http.ext_authz');
  if (!f) throw new Error('README Envoy snippet has no ext_authz filter');
  const s = f.typed_config.http_service;
  return {
    failureModeAllow: f.typed_config.failure_mode_allow ?? false,
    pathPrefix: s.path_prefix ?? '',
    allowedHeaders: s.authorization_request?.allowed_headers?.patterns ?? [],
    allowedUpstreamHeaders: s.authorization_response?.allowed_upstream_headers?.patterns ?? [],
  };
}

/** The zt-authz `http:` configuration shown next to the Envoy snippet. */
export function readmeZtAuthzHttpConfig(): Record<string, unknown> {
  const doc = parse(block('yaml', 'pathPrefix')) as { http: Record<string, unknown> };
  return doc.http;
}

export function matches(m: StringMatcher, name: string): boolean {
  const n = m.ignore_case ? name.toLowerCase() : name;
  const v = (s: string | undefined) => (s === undefined ? undefined : m.ignore_case ? s.toLowerCase() : s);
  if (m.exact !== undefined) return n === v(m.exact);
  if (m.prefix !== undefined) return n.startsWith(v(m.prefix)!);
  if (m.suffix !== undefined) return n.endsWith(v(m.suffix)!);
  if (m.contains !== undefined) return n.includes(v(m.contains)!);
  return false;
}
