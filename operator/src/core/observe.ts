import type { V1Node, V1Pod } from '@kubernetes/client-node'
import { ANNOTATION_NUDGED_AT, ANNOTATION_NUDGES, ANNOTATION_SPEC_HASH, LABEL_INSTANCE } from './builders.js'
import type { ObservedPod } from './shards.js'

const msOf = (t: string | Date | undefined) => (t === undefined ? undefined : new Date(t).getTime())

/** What the shard planner needs of a pod. */
export function observePod(p: V1Pod): ObservedPod {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')
  const cs = p.status?.containerStatuses?.[0]
  return {
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    phase: p.status?.phase ?? 'Pending',
    ready: ready?.status === 'True',
    readySinceMs: ready?.status === 'True' ? msOf(ready.lastTransitionTime) : undefined,
    createdAtMs: msOf(p.metadata?.creationTimestamp) ?? 0,
    deletionRequestedAtMs: p.metadata?.deletionTimestamp ? (msOf(p.metadata.deletionTimestamp) ?? 0) - (p.metadata.deletionGracePeriodSeconds ?? 0) * 1000 : undefined,
    deletionGraceSeconds: p.metadata?.deletionGracePeriodSeconds,
    nodeName: p.spec?.nodeName,
    specHash: p.metadata?.annotations?.[ANNOTATION_SPEC_HASH],
    restarts: cs?.restartCount ?? 0,
    lastTerminatedAtMs: msOf(cs?.lastState?.terminated?.finishedAt),
    ip: p.status?.podIP,
    started: (p.status?.containerStatuses ?? []).some((c) => c.started === true || !!c.state?.running || !!c.state?.terminated || !!c.lastState?.terminated),
    nudgedAtMs: msOf(p.metadata?.annotations?.[ANNOTATION_NUDGED_AT]),
    nudges: Number(p.metadata?.annotations?.[ANNOTATION_NUDGES] ?? 0) || 0,
  }
}

/** Since when a node has not been Ready, or undefined. */
export function nodeNotReadySince(node: V1Node | undefined): number | undefined {
  const c = node?.status?.conditions?.find((x) => x.type === 'Ready')
  if (!c || c.status === 'True') return undefined
  return msOf(c.lastTransitionTime)
}

/**
 * The resources (`namespace/name`) with a pod of theirs on `node`: the only
 * ones a change of that node (NotReady, deleted) concerns.
 */
export function resourcesOnNode(node: string | undefined, pods: readonly V1Pod[]): string[] {
  if (!node) return []
  const keys = new Set<string>()
  for (const p of pods) {
    const inst = p.metadata?.labels?.[LABEL_INSTANCE]
    if (p.spec?.nodeName === node && inst && p.metadata?.namespace) keys.add(`${p.metadata.namespace}/${inst}`)
  }
  return [...keys]
}
