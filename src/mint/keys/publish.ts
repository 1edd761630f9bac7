// The token issuer's public documents on the admin listener: the JWKS (public members only; the
// key ring whitelists them) and the OpenID Connect discovery document, both under the issuer's
// path, as discovery prescribes ({issuer}/.well-known/openid-configuration). Their Cache-Control
// max-age is a third of publishLeadSeconds (at most 5 minutes), so a consumer that honours it
// always refetches the JWKS before a newly published key starts signing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../../transport/admin/server.js';
import type { KeyRing } from './key-ring.js';

export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Cache lifetime of both documents: well under the lead, so caches hold a new key before it signs. */
export function publishMaxAgeSeconds(publishLeadSeconds: number): number {
  return Math.min(Math.floor(publishLeadSeconds / 3), 300);
}

/** The admin paths of the two documents: the issuer URL's path, then the well-known suffix. */
export function publishPaths(issuer: string): { jwks: string; discovery: string } {
  const base = new URL(issuer).pathname.replace(/\/+$/, '');
  return { jwks: `${base}${JWKS_PATH}`, discovery: `${base}${DISCOVERY_PATH}` };
}

/**
 * The discovery document. zt-authz issues access tokens (typ at+jwt, RFC 9068) to the services
 * behind it and has no authorization or token endpoint, so the document says only how to verify:
 *  - `issuer` and `jwks_uri`: all a verifier needs (RFC 8414 and OpenID Connect Discovery);
 *  - the members OpenID Connect Discovery requires, with the values the Kubernetes
 *    service-account issuer (also a JWT issuer without an authorization endpoint) serves:
 *    `response_types_supported`, `subject_types_supported` and
 *    `id_token_signing_alg_values_supported`. Libraries that verify from discovery refuse a
 *    document without them, and some pick the algorithms they accept from the last (go-oidc
 *    accepts RS256 only without it), so it names the algorithm although no ID token is issued;
 *  - `access_token_signing_alg_values_supported`: the same algorithm under the name that says
 *    what it signs. Neither RFC 8414 nor RFC 9068 registers a member for it; several
 *    authorization servers publish this one, and readers that do not know it ignore it.
 * No `token_endpoint_auth_methods_supported` or `grant_types_supported`: there is no token
 * endpoint to describe.
 */
export function discoveryDocument(issuer: string, alg: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [alg],
    access_token_signing_alg_values_supported: [alg],
  };
}

export function publishRoutes(issuer: string, ring: KeyRing, publishLeadSeconds: number): Record<string, Route> {
  const paths = publishPaths(issuer);
  const maxAge = publishMaxAgeSeconds(publishLeadSeconds);
  const cacheControl = maxAge > 0 ? `public, max-age=${maxAge}` : 'no-cache';
  const discovery = JSON.stringify(discoveryDocument(issuer, ring.algorithm));
  const write = (res: ServerResponse, type: string, body: string): void => {
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': cacheControl });
    res.end(body);
  };
  return {
    [paths.jwks]: (_req: IncomingMessage, res: ServerResponse) => write(res, 'application/jwk-set+json', JSON.stringify(ring.jwks())),
    [paths.discovery]: (_req: IncomingMessage, res: ServerResponse) => write(res, 'application/json', discovery),
  };
}
