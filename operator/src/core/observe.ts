import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Node, V1Pod } from '@kubernetes/client-node'
import { ANNOTATION_NUDGED_AT, ANNOTATION_NUDGES, ANNOTATION_SPEC_HASH, LABEL_INSTANCE } from './builders.js'
import type { ObservedPod } from './shards.js'

const msOf = (t: string | Date | undefined) => (t === undefined ? undefined : new Date(t).getTime())

/** What the shard planner needs of a pod. */
export function observePod(p: V1Pod): ObservedPod {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')
  const cs = p.status?.containerStatuses?.[0]
  const problem = ready?.status === 'True' ? undefined : podProblem(p)
  // The API server marks a pod it evicts (a drain, `kubectl drain`) before it deletes it.
  const evicted = p.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason === 'EvictionByEvictionAPI') ?? false
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
    ...(problem ? { problem } : {}),
    ...(evicted ? { evicted } : {}),
  }
}

const clip = (s: string, n = 240) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

/**
 * The last thing a container said before it ended, from its termination
 * message (the pods fall back to the log's tail on an error): of JSON log
 * lines, the last message at error level or above, else the last line.
 */
function lastWords(message: string): string {
  const lines = message.trim().split('\n').filter(Boolean)
  for (const line of [...lines].reverse()) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; reason?: string }
      if (typeof j.level === 'number' && j.level >= 50 && j.msg) return j.reason ? `${j.msg} [${j.reason}]` : j.msg
    } catch {
      // not a JSON line
    }
  }
  return lines.at(-1) ?? ''
}

/**
 * Why a pod does not run, in the words its status has: unschedulable, a
 * container waiting (CrashLoopBackOff, ImagePullBackOff,
 * CreateContainerConfigError, ...), its last exit code and last words.
 * Undefined when it says nothing of the kind.
 */
export function podProblem(p: V1Pod): string | undefined {
  const unscheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  if (unscheduled) return clip(`not scheduled: ${unscheduled.reason ?? 'Unschedulable'}${unscheduled.message ? `: ${unscheduled.message}` : ''}`)
  const parts: string[] = []
  for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const w = c.state?.waiting
    if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') parts.push(`container ${c.name}: ${w.reason}${w.message ? ` (${clip(w.message, 160)})` : ''}`)
    const t = c.state?.terminated ?? c.lastState?.terminated
    if (t && t.exitCode !== 0) {
      const words = t.message ? lastWords(t.message) : ''
      parts.push(`last exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${words ? `: ${clip(words)}` : ''}`)
    }
  }
  return parts.length > 0 ? parts.join('; ') : undefined
}

/** Since when a node has not been Ready, or undefined. */
export function nodeNotReadySince(node: V1Node | undefined): number | undefined {
  const c = node?.status?.conditions?.find((x) => x.type === 'Ready')
  if (!c || c.status === 'True') return undefined
  return msOf(c.lastTransitionTime)
}

/** The host names a volume is pinned to by its required node affinity (a local or zonal disk); empty when it is not pinned to hosts. */
export function volumeHosts(pv: V1PersistentVolume): string[] {
  const hosts = new Set<string>()
  for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) if (e.key === 'kubernetes.io/hostname' && e.operator === 'In') for (const v of e.values ?? []) hosts.add(v)
  }
  return [...hosts].sort()
}

/**
 * Why a shard's claim can no longer serve a pod, or undefined when it can
 * (or it is too early to say): its volume is gone, or pinned to hosts whose
 * nodes are all gone or NotReady for at least `nodeLostTimeoutMs`.
 * `pv`: the bound volume, 'gone' when the API has none of that name.
 * `nodes`: per host name, its node ('gone' when none carries it).
 */
export function claimLostReason(claim: V1PersistentVolumeClaim, pv: V1PersistentVolume | 'gone' | undefined, nodes: ReadonlyMap<string, V1Node | 'gone'>, nowMs: number, nodeLostTimeoutMs: number): string | undefined {
  const volume = claim.spec?.volumeName
  if (claim.status?.phase === 'Lost') return `its volume ${volume ?? '?'} is gone (the claim is Lost)`
  if (claim.status?.phase !== 'Bound' || !volume || pv === undefined) return undefined
  if (pv === 'gone') return `its volume ${volume} no longer exists`
  const hosts = volumeHosts(pv)
  if (hosts.length === 0) return undefined
  const why: string[] = []
  for (const h of hosts) {
    const n = nodes.get(h)
    if (n === undefined) return undefined
    if (n === 'gone') why.push(`node ${h} no longer exists`)
    else {
      const since = nodeNotReadySince(n)
      if (since === undefined || nowMs - since < nodeLostTimeoutMs) return undefined
      why.push(`node ${h} NotReady for ${Math.round((nowMs - since) / 1000)} s`)
    }
  }
  return `its volume ${volume} is pinned to ${hosts.length === 1 ? 'a node' : 'nodes'} that cannot run it: ${why.join(', ')}`
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
