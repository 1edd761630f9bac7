// A real nginx for the e2e suite, run as the current user from a temp prefix on 127.0.0.1:
//  - server "nginx": includes scripts/e2e/nginx/zt-authz-locations.conf (the README snippet);
//  - server "ingress": the auth location ingress-nginx generates from the README's two
//    annotations (auth-url, auth-response-headers), mirroring its template.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, startProc, waitForPort, type Proc } from './procs.js';
import { NGINX_SNIPPET_FILE, type IngressAnnotations } from './readme.js';

export interface NginxPorts {
  nginx: number;
  ingress: number;
  ztAuthz: number;
  app: number;
}

/** What ingress-nginx renders for `auth-url` + `auth-response-headers` (its nginx.tmpl, trimmed). */
export function ingressNginxServer(listen: number, a: IngressAnnotations): string {
  const sets = a.responseHeaders
    .map((h, i) => `        auth_request_set $authHeader${i} $upstream_http_${h.toLowerCase().replace(/-/g, '_')};\n        proxy_set_header '${h}' $authHeader${i};`)
    .join('\n');
  return `
    server {
        listen 127.0.0.1:${listen};
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

export function nginxConf(dir: string, ports: NginxPorts, ingress: IngressAnnotations): string {
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

    server {
        listen 127.0.0.1:${ports.nginx};
        include ${NGINX_SNIPPET_FILE};
    }
${ingressNginxServer(ports.ingress, ingress)}
}
`;
}

export async function startNginx(dir: string, ports: NginxPorts, ingress: IngressAnnotations): Promise<Proc> {
  const bin = findBinary('nginx');
  if (!bin) throw new Error('nginx not installed');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, ports, ingress));
  const proc = startProc('nginx', bin, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')]);
  // TCP only: an HTTP probe would go through auth_request and count as a decision.
  await waitForPort(ports.nginx, proc);
  await waitForPort(ports.ingress, proc);
  return proc;
}
