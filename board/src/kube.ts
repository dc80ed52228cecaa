import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node'
import { GROUP, PLURAL, VERSION, type PipelineStatus } from '@ridepulse/contracts'

/**
 * Reads one StatefulOperator's status from the API server, with a kubeconfig
 * file or else the in-cluster service account or $KUBECONFIG. The board
 * only reads; the operator writes.
 */
export function resourceStatusReader(resource: `${string}/${string}`, kubeconfigPath?: string): () => Promise<Partial<PipelineStatus> | undefined> {
  const kc = new KubeConfig()
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath)
  else kc.loadFromDefault()
  const api = kc.makeApiClient(CustomObjectsApi)
  const [namespace, name] = resource.split('/') as [string, string]
  return async () => {
    const res = (await api.getNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as { status?: Partial<PipelineStatus> }
    return res.status
  }
}
