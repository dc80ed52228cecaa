import type { V1Pod } from '@kubernetes/client-node'
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_SHARD, LABEL_SLOT, WORKER_PORT } from './builders.js'

/**
 * When a standby pair's pod is deleted outright (force, or Chaos Mesh's
 * pod-kill: the object gone at once), its container may run on for a second
 * until the kubelet stops it. The operator sees the deletion first and
 * tells the other pod of the pair, which takes the shard over at once if it
 * stands by the owner at the deleted pod's address (otherwise it refuses:
 * it is the owner, or watches another one). Exactly-once does not depend
 * on it: the takeover fences the old owner whatever it still does.
 *
 * The request to send for a deleted pod, or none: the partner's address
 * (the other slot of the same shard and resource, running, not deleting)
 * and the deleted pod's.
 */
export function ownerGoneRequest(deleted: V1Pod, pods: readonly V1Pod[]): { url: string; partner: string; host: string } | undefined {
  const l = deleted.metadata?.labels ?? {}
  const host = deleted.status?.podIP
  if (l[LABEL_COMPONENT] !== 'opb' || l[LABEL_SLOT] === undefined || !host) return undefined
  const partner = pods.find((p) => {
    const pl = p.metadata?.labels ?? {}
    return p.metadata?.namespace === deleted.metadata?.namespace && pl[LABEL_COMPONENT] === 'opb' && pl[LABEL_INSTANCE] === l[LABEL_INSTANCE] && pl[LABEL_SHARD] === l[LABEL_SHARD] &&
      pl[LABEL_SLOT] !== undefined && pl[LABEL_SLOT] !== l[LABEL_SLOT] && !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && !!p.status.podIP
  })
  if (!partner) return undefined
  const ip = partner.status!.podIP!
  return { url: `http://${ip.includes(':') ? `[${ip}]` : ip}:${WORKER_PORT}/standby/owner-gone?host=${encodeURIComponent(host)}`, partner: partner.metadata!.name!, host }
}
