// A real nginx for the e2e suite, run as the current user from a temp prefix on 127.0.0.1:
//  - server "nginx": includes scripts/e2e/nginx/zt-authz-locations.conf (the docs/http-mode.md snippet);
//  - server "ingress": the auth location ingress-nginx generates from the annotations in docs/http-mode.md
//    (auth-url, auth-response-headers, auth-proxy-set-headers and its ConfigMap), mirroring its
//    template.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, startProc, waitForPort, type Proc } from './procs.js';
import { NGINX_SNIPPET_FILE, type IngressAnnotations } from './docs-snippets.js';

export interface NginxPorts {
  nginx: number;
  ingress: number;
  ztAuthz: number;
  app: number;
}

/**
 * What ingress-nginx renders for `auth-url` + `auth-response-headers` + `auth-proxy-set-headers`
 * (its nginx.tmpl, trimmed; the ConfigMap lines as its buildAuthProxySetHeaders writes them:
 * `proxy_set_header "name" "value";`, sorted). `serverName` adds a server_name, as one Ingress
 * host becomes one server block.
 */
export function ingressNginxServer(listen: number, a: IngressAnnotations, serverName?: string): string {
  const proxySets = Object.entries(a.proxySetHeaders)
    .map(([k, v]) => `proxy_set_header ${JSON.stringify(k)} ${JSON.stringify(v)};`)
    .sort()
    .map((l) => `            ${l}`)
    .join('\n');
  const sets = a.responseHeaders
    .map(
      (h, i) =>
        `        auth_request_set $authHeader${i} $upstream_http_${h.toLowerCase().replace(/-/g, '_')};\n        proxy_set_header '${h}' $authHeader${i};`,
    )
    .join('\n');
  return `
    server {
        listen 127.0.0.1:${listen};${serverName ? `\n        server_name ${serverName};` : ''}
        location = /_external-auth {
            internal;
            proxy_pass_request_body     off;
            proxy_set_header            Content-Length          "";
            proxy_set_header            X-Forwarded-Proto       "";
            proxy_set_header            X-Request-ID            $request_id;
            proxy_set_header            Host                    ${a.authUrl.host};
            proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
            proxy_set_header            X-Original-Method       $request_method;
            proxy_set_header            X-Sent-From             "nginx-ingress-controller";
            proxy_set_header            X-Real-IP               $remote_addr;
            proxy_set_header            X-Forwarded-For         $remote_addr;
            proxy_set_header            X-Auth-Request-Redirect $request_uri;
${proxySets}
            proxy_http_version          1.1;
            proxy_pass_request_headers  on;
            proxy_pass                  http://zt_authz${a.authUrl.pathname};
        }
        location / {
            auth_request /_external-auth;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
${sets}
            proxy_set_header Host $host;
            proxy_pass http://app;
        }
    }`;
}

/** A whole nginx.conf for a temp prefix: upstreams zt_authz and app, then `servers` (server blocks). */
export function nginxMainConf(dir: string, ports: { ztAuthz: number; app: number }, servers: string): string {
  // As root the master would hand workers to "nobody", who cannot use this 0700 temp prefix.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `daemon off;
${user}worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 256; }
http {
    access_log ${join(dir, 'access.log')};
    client_body_temp_path ${join(dir, 'client_body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};
    upstream zt_authz { server 127.0.0.1:${ports.ztAuthz}; keepalive 16; }
    upstream app { server 127.0.0.1:${ports.app}; }
${servers}
}
`;
}

export function nginxConf(dir: string, ports: NginxPorts, ingress: IngressAnnotations): string {
  return nginxMainConf(
    dir,
    ports,
    `
    server {
        listen 127.0.0.1:${ports.nginx};
        include ${NGINX_SNIPPET_FILE};
    }
${ingressNginxServer(ports.ingress, ingress)}`,
  );
}

/** Starts nginx on `conf` (written to dir/nginx.conf) and waits for every port in `listens`. */
export async function startNginxConf(dir: string, conf: string, listens: number[]): Promise<Proc> {
  const bin = findBinary('nginx');
  if (!bin) throw new Error('nginx not installed');
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const proc = startProc('nginx', bin, ['-p', `${dir}/`, '-c', file, '-e', join(dir, 'error.log')]);
  // TCP only: an HTTP probe would go through auth_request and count as a decision.
  for (const p of listens) await waitForPort(p, proc);
  return proc;
}

export function startNginx(dir: string, ports: NginxPorts, ingress: IngressAnnotations): Promise<Proc> {
  return startNginxConf(dir, nginxConf(dir, ports, ingress), [ports.nginx, ports.ingress]);
}
