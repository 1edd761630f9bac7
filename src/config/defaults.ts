// Default values that other layers need as constants too (the schema's `default`s use these, so
// each is written once).

/** identity.trustDomain: the name Istio gives the local trust domain. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

/** log.maxBufferBytes: several seconds of audit lines at a high Check rate. */
export const DEFAULT_MAX_BUFFER_BYTES = 4 * 1024 * 1024;

/** Kubernetes service-account issuer preset (in-cluster service account). */
export const K8S_DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const K8S_DEFAULT_API_SERVER = 'https://kubernetes.default.svc';
export const K8S_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
