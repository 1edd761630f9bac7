// SPIFFE IDs as Istio issues them: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.

export interface PeerIdentity {
  /** Principal without the spiffe:// scheme, as Istio policies write it: td/ns/N/sa/S */
  principal: string;
  namespace?: string;
  serviceAccount?: string;
}

export function parsePrincipal(raw: string | undefined): PeerIdentity | undefined {
  if (!raw) return undefined;
  const principal = raw.startsWith('spiffe://') ? raw.slice('spiffe://'.length) : raw;
  const m = /^[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal);
  return m ? { principal, namespace: m[1]!, serviceAccount: m[2]! } : { principal };
}
