// The snippets of docs/http-mode.md (nginx, ingress-nginx, Envoy http_service), parsed, so the
// tests run exactly what the page shows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const HTTP_MODE_DOC = 'docs/http-mode.md';
/** The nginx snippet file the page shows and the e2e nginx includes. */
export const NGINX_SNIPPET_FILE = `${REPO_ROOT}scripts/e2e/nginx/zt-authz-locations.conf`;

export function httpModePage(): string {
  return readFileSync(`${REPO_ROOT}${HTTP_MODE_DOC}`, 'utf8');
}

export function codeBlocks(section = httpModePage()): Array<{ lang: string; body: string }> {
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

function block(lang: string, contains: string): string {
  const b = codeBlocks().find((x) => x.lang === lang && x.body.includes(contains));
  if (!b) throw new Error(`${HTTP_MODE_DOC} has no \`\`\`${lang} block containing "${contains}"`);
  return b.body;
}

export function docsNginxSnippet(): string {
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

export function docsIngressAnnotations(): IngressAnnotations {
  const docs = parseAllDocuments(block('yaml', 'nginx.ingress.kubernetes.io/auth-url')).map((d) => d.toJS() as K8sDoc);
  const a = docs.find((d) => d.metadata?.annotations?.['nginx.ingress.kubernetes.io/auth-url'])!.metadata.annotations!;
  const cmName = a['nginx.ingress.kubernetes.io/auth-proxy-set-headers'];
  if (!cmName) throw new Error(`${HTTP_MODE_DOC}: the ingress-nginx block lacks the auth-proxy-set-headers annotation`);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === cmName);
  if (!cm?.data)
    throw new Error(`${HTTP_MODE_DOC}: the ingress-nginx block lacks the ConfigMap "${cmName}" that auth-proxy-set-headers names`);
  return {
    authUrl: new URL(a['nginx.ingress.kubernetes.io/auth-url']!),
    responseHeaders: (a['nginx.ingress.kubernetes.io/auth-response-headers'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
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

export function docsEnvoyHttpService(): EnvoyHttpService {
  const doc = parse(block('yaml', 'http_service:')) as ExtAuthzYaml;
  const f = doc.http_filters.find((x) => x.name === 'envoy.filters.http.ext_authz');
  if (!f) throw new Error(`${HTTP_MODE_DOC}: the Envoy snippet has no ext_authz filter`);
  const s = f.typed_config.http_service;
  return {
    failureModeAllow: f.typed_config.failure_mode_allow ?? false,
    pathPrefix: s.path_prefix ?? '',
    allowedHeaders: s.authorization_request?.allowed_headers?.patterns ?? [],
    allowedUpstreamHeaders: s.authorization_response?.allowed_upstream_headers?.patterns ?? [],
  };
}

/** The zt-authz `http:` configuration shown next to the Envoy snippet. */
export function docsZtAuthzHttpConfig(): Record<string, unknown> {
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
