// Kubernetes API access (@kubernetes/client-node): in-cluster service account by default, a
// kubeconfig file, or an explicit API server URL with a token/CA file (tests, out-of-cluster).
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import type { KubernetesConfig } from '../config/types.js';
import { InvalidArgumentError } from '../errors.js';

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** A fresh Watch for one informer. */
  newWatch(): Watch;
  server: string;
}

export function kubeConfigFor(k: KubernetesConfig): KubeConfig {
  const kc = new KubeConfig();
  if (k.apiServer) {
    const user = k.tokenFile
      ? { name: 'zt-authz', authProvider: { name: 'tokenFile', config: { tokenFile: k.tokenFile } } }
      : { name: 'zt-authz' };
    kc.loadFromOptions({
      clusters: [
        {
          name: 'zt-authz',
          server: k.apiServer,
          skipTLSVerify: k.insecureSkipTlsVerify || k.apiServer.startsWith('http:'),
          ...(k.caFile ? { caFile: k.caFile } : {}),
        },
      ],
      users: [user],
      contexts: [{ name: 'zt-authz', cluster: 'zt-authz', user: 'zt-authz' }],
      currentContext: 'zt-authz',
    });
  } else if (k.kubeconfig) {
    kc.loadFromFile(k.kubeconfig);
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new InvalidArgumentError(
        'kubernetes.enabled: not running in a cluster (KUBERNETES_SERVICE_HOST unset); set kubernetes.kubeconfig or kubernetes.apiServer',
      );
    }
    kc.loadFromCluster();
  }
  return kc;
}

export function kubeClients(k: KubernetesConfig): KubeClients {
  const kc = kubeConfigFor(k);
  const server = kc.getCurrentCluster()?.server ?? '';
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    // client-node sets TCP keep-alive on watch sockets; the informer's periodic relist (resync)
    // and the server-side watch timeout bound how long a silently dead watch can go unnoticed.
    newWatch: () => new Watch(kc),
    server,
  };
}
