// Kubernetes service-account tokens as workload identity.
//
// The `kubernetes: true` issuer preset verifies projected service-account tokens offline (no
// TokenReview per request): keys come from the API server's OIDC discovery and JWKS endpoints,
// fetched with the pod's CA bundle and its own service-account token. This module provides the
// HTTP client for those fetches and the mapping of a verified token's `sub`
// (system:serviceaccount:NS:SA) to a source namespace and service account.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { Identity } from '../decision/types.js';
import type { PeerIdentity } from '../identity/spiffe.js';

export interface KubernetesFetchOptions {
  caFile: string;
  tokenFile: string;
}

/** Re-read on every call: projected tokens rotate (kubelet refreshes them about hourly). */
function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function fetchError(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { cause: { code, message } });
}

/**
 * A fetch-compatible client for the API server: custom CA (https), `Authorization: Bearer` with
 * the service-account token when one is mounted, no redirects, honours `init.signal`.
 */
export function kubernetesFetch(opts: KubernetesFetchOptions): (url: string, init: RequestInit) => Promise<Response> {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const u = new URL(url);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const token = readOptional(opts.tokenFile);
      if (token) headers.authorization = `Bearer ${token}`;
      let ca: string | undefined;
      if (u.protocol === 'https:') {
        ca = readOptional(opts.caFile);
        if (!ca) return reject(fetchError('CA_FILE_UNREADABLE', `cannot read CA file ${opts.caFile}`));
      }
      const onResponse = (res: IncomingMessage): void => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 500;
        const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status: status < 200 || status > 599 ? 500 : status, headers: h }));
      };
      const common = { method: init.method ?? 'GET', headers, ...(init.signal ? { signal: init.signal } : {}) };
      const req =
        u.protocol === 'https:' ? httpsRequest(u, { ...common, ...(ca ? { ca } : {}) }, onResponse) : httpRequest(u, common, onResponse);
      req.on('error', (err) =>
        reject(
          (err as NodeJS.ErrnoException).code === 'ABORT_ERR' && init.signal?.reason
            ? (init.signal.reason as Error) // the caller's AbortSignal.timeout() reason: a DOMException
            : fetchError((err as NodeJS.ErrnoException).code ?? 'EREQUEST', err.message),
        ),
      );
      req.end();
    });
}

const SA_SUBJECT = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/**
 * The calling workload named by a verified service-account token, or undefined. Only ever applied
 * to tokens of an issuer configured with the `kubernetes` preset: another IdP could mint any `sub`.
 * When the token carries the `kubernetes.io` claim, its namespace must agree with `sub`.
 * The principal is left empty: `principals` match mTLS identities only.
 */
export function serviceAccountOf(identity: Identity): PeerIdentity | undefined {
  const m = SA_SUBJECT.exec(identity.subject);
  if (!m) return undefined;
  const ns = m[1]!;
  const sa = m[3]!;
  const k8s = identity.claims['kubernetes.io'];
  if (k8s && typeof k8s === 'object') {
    const claimedNs = (k8s as { namespace?: unknown }).namespace;
    if (claimedNs !== undefined && claimedNs !== ns) return undefined;
  }
  return { principal: '', namespace: ns, serviceAccount: sa };
}
