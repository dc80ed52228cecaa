import type { Recovery, RecoveryReason, ShardPhase, ShardStatus } from '@ridepulse/contracts'

export type { Recovery, RecoveryReason, ShardPhase, ShardStatus } from '@ridepulse/contracts'

/**
 * What to do with one OpB shard, from what is observed of its pod and claim
 * and what the resource's status remembers of it. Pure: the clock is a
 * parameter, the answer is a list of actions and the shard's next status.
 */

/** What the planner needs of a pod (the adapter reads it off a V1Pod). */
export interface ObservedPod {
  name: string
  uid: string
  phase: string
  ready: boolean
  /** When the Ready condition last turned true, ms. */
  readySinceMs?: number
  createdAtMs: number
  deletionRequestedAtMs?: number
  deletionGraceSeconds?: number
  nodeName?: string
  specHash?: string
  /** Container restarts in place (the kubelet restarting a killed process). */
  restarts: number
  /** When the container last terminated, ms. */
  lastTerminatedAtMs?: number
  ip?: string
  /** Whether any of its containers has started (is running, or ran). */
  started: boolean
  /** When the operator last nudged the kubelet about this pod (annotation), ms. */
  nudgedAtMs?: number
  /** How often it has (annotation). */
  nudges?: number
  /** What the pod says of why it does not run (`podProblem`). */
  problem?: string
  /** Deleted through the Eviction API (a drain): a planned move, not a failure. */
  evicted?: boolean
}

export type ShardAction =
  | { kind: 'apply-claim' }
  | { kind: 'delete-claim'; uid: string; reason: string }
  | { kind: 'create-pod' }
  | { kind: 'delete-pod'; uid: string; graceSeconds?: number; reason: string }
  | { kind: 'nudge-pod'; uid: string; atMs: number; count: number }

export interface ShardEvent {
  type: 'Normal' | 'Warning'
  reason: string
  message: string
}

export interface ShardInput {
  shard: number
  podName: string
  claimName: string
  pod?: ObservedPod
  claimExists: boolean
  /** The claim's uid, when it exists. */
  claimUid?: string
  /** The claim is being deleted: no pod is made on it until it is gone and a new one is made. */
  claimDeleting?: boolean
  /**
   * Why the claim cannot serve a pod any more (its volume is gone, or bound to
   * a node that is gone or lost); undefined when it can, or when unknown.
   */
  claimLost?: string
  /** How long a claim may stay lost before it is replaced with a new, empty one; 0: never. */
  lostClaimTimeoutMs?: number
  prev?: ShardStatus
  desiredHash: string
  /** Whether this shard may be rolled now (the others are ready and none is rolling). */
  mayRoll: boolean
  /** Since when the pod's node has been NotReady, ms; undefined when Ready or unknown. */
  nodeNotReadySinceMs?: number
  /** The pod's node no longer exists (deleted, or removed by an autoscaler): lost at once, no timeout to wait. */
  nodeGone?: boolean
  nodeLostTimeoutMs: number
  /** How long the shard may stay not ready before it is reported stalled. */
  deadlineMs?: number
  /**
   * With the kubelet nudge on: how many times the pod's kubelet reported
   * that it may not read the pod's claim (FailedMount events naming the Node
   * authorizer's refusal, with their counts). Undefined: the nudge is off.
   */
  claimRefusals?: number
  nowMs: number
}

export interface ShardPlan {
  actions: ShardAction[]
  status: ShardStatus
  events: ShardEvent[]
  /** A recovery completed in this pass: the adapter may add the worker's own report to it. */
  recovered?: Recovery
  /** A new failure was detected in this pass (the global strategy restarts everything on it). */
  failed?: RecoveryReason
  requeueAfterMs?: number
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * How long a recovering shard's replacement pod may sit on its node with no
 * container started before the kubelet is nudged, and between nudges.
 *
 * Why: the kubelet fetches the pod's claim as soon as it sees the pod, and
 * the API server's node authorizer refuses that until its own graph has seen
 * the pod bound to the node. When the kubelet wins that race, the pod's sync
 * fails and the kubelet's pod worker backs off for 10-15 s before trying
 * again, although the next try would pass. Any change of the pod's
 * annotations is delivered to the pod worker at once and ends the wait. A
 * normal start has its container running well within this delay.
 */
export const NUDGE_AFTER_MS = 2000

/** The most nudges one pod gets: the refusal is momentary, or it is something else. */
export const MAX_NUDGES = 3

export function planShard(i: ShardInput): ShardPlan {
  const prev: ShardStatus = i.prev ?? { shard: i.shard, pod: i.podName, claim: i.claimName, phase: 'Creating', ready: false, restarts: 0, recoveries: 0 }
  const actions: ShardAction[] = i.claimExists ? [] : [{ kind: 'apply-claim' }]
  const events: ShardEvent[] = []
  const base = { shard: i.shard, pod: i.podName, claim: i.claimName, recoveries: prev.recoveries, lastRecovery: prev.lastRecovery, ...(prev.plannedMoves ? { plannedMoves: prev.plannedMoves } : {}) }
  const start = (reason: RecoveryReason, detectedAtMs: number, message: string): Recovery => {
    events.push({ type: 'Warning', reason: 'ShardFailed', message: `shard ${i.shard}: ${message}` })
    return { reason, detectedAt: iso(detectedAtMs) }
  }
  // An eviction is asked for (a drain, within the disruption budget): the
  // shard recovers as from any deletion, but nothing failed.
  const move = (detectedAtMs: number, message: string): Recovery => {
    events.push({ type: 'Normal', reason: 'ShardMoving', message: `shard ${i.shard}: ${message}` })
    return { reason: 'Evicted', detectedAt: iso(detectedAtMs), planned: true }
  }
  const pod = i.pod

  // A claim that cannot serve a pod any more: said at once, replaced after
  // the timeout with a new, empty claim (the shard restores from a remote
  // snapshot copy or the changelog), never by a pass that merely saw it.
  const lostSince = i.claimLost ? (prev.claimLostSince ?? iso(i.nowMs)) : undefined
  const timeout = i.lostClaimTimeoutMs ?? 0
  if (i.claimLost && !prev.claimLostSince) {
    const then = timeout > 0 ? `replaced with a new claim in ${Math.round(timeout / 1000)} s unless it comes back` : 'recovery.lostClaimTimeoutSeconds is 0: delete the claim to have it replaced'
    events.push({ type: 'Warning', reason: 'ClaimLost', message: `shard ${i.shard}: claim ${i.claimName} is lost (${i.claimLost}); ${then}` })
  }
  const replacements = prev.claimReplacements ?? 0
  const lostBase = { ...base, ...(lostSince ? { claimLostSince: lostSince } : {}), ...(replacements > 0 ? { claimReplacements: replacements } : {}) }
  if (i.claimLost && lostSince && i.claimUid && timeout > 0 && i.nowMs - Date.parse(lostSince) >= timeout) {
    let pending = prev.pendingRecovery
    let failed: RecoveryReason | undefined
    if (!pending) {
      pending = start('ClaimLost', Date.parse(lostSince), `claim ${i.claimName} lost (${i.claimLost})`)
      failed = 'ClaimLost'
    }
    if (pod) actions.push({ kind: 'delete-pod', uid: pod.uid, graceSeconds: 0, reason: 'its claim is lost' })
    actions.push({ kind: 'delete-claim', uid: i.claimUid, reason: i.claimLost })
    events.push({ type: 'Warning', reason: 'ClaimReplaced', message: `shard ${i.shard}: claim ${i.claimName} lost for ${Math.round((i.nowMs - Date.parse(lostSince)) / 1000)} s: deleted, a new one follows` })
    // claimLostSince is dropped: a view that still shows the old claim starts the timeout again rather than deleting twice.
    const status: ShardStatus = { ...base, claimReplacements: replacements + 1, ...(pod ? { podUid: pod.uid } : {}), phase: 'Recovering', ready: false, restarts: 0, specHash: pod?.specHash, pendingRecovery: pending }
    return { actions, status, events, failed, requeueAfterMs: 1000 }
  }
  if (i.claimDeleting) {
    // The old claim goes once no pod uses it; then the pass makes a new claim and the pod.
    if (pod && pod.deletionRequestedAtMs === undefined) actions.push({ kind: 'delete-pod', uid: pod.uid, graceSeconds: 0, reason: 'its claim is being deleted' })
    const status: ShardStatus = { ...lostBase, ...(pod ? { podUid: pod.uid } : {}), phase: prev.pendingRecovery ? 'Recovering' : 'Creating', ready: false, restarts: 0, specHash: pod?.specHash, ...(prev.pendingRecovery ? { pendingRecovery: prev.pendingRecovery } : {}) }
    return { actions, status, events, requeueAfterMs: 1000 }
  }
  const untilReplace = lostSince && timeout > 0 ? Math.max(1000, Date.parse(lostSince) + timeout - i.nowMs) : undefined
  const plan = planPodOfShard(i, prev, lostBase, actions, events, start, move)
  return untilReplace === undefined ? plan : { ...plan, requeueAfterMs: Math.min(plan.requeueAfterMs ?? untilReplace, untilReplace) }
}

function planPodOfShard(
  i: ShardInput,
  prev: ShardStatus,
  base: Pick<ShardStatus, 'shard' | 'pod' | 'claim' | 'recoveries' | 'lastRecovery' | 'plannedMoves' | 'claimLostSince' | 'claimReplacements'>,
  actions: ShardAction[],
  events: ShardEvent[],
  start: (reason: RecoveryReason, detectedAtMs: number, message: string) => Recovery,
  move: (detectedAtMs: number, message: string) => Recovery,
): ShardPlan {
  const pod = i.pod
  if (!pod) {
    // Gone: deleted (a pod-kill), evicted, or never created.
    let pending = prev.pendingRecovery
    let failed: RecoveryReason | undefined
    if (!pending && prev.podUid && prev.phase !== 'Rolling') {
      pending = start('PodDeleted', i.nowMs, `pod ${i.podName} is gone`)
      failed = 'PodDeleted'
    }
    if (pending) pending = { ...pending, podRecreatedAt: iso(i.nowMs) }
    actions.push({ kind: 'create-pod' })
    if (pending) events.push({ type: 'Normal', reason: 'PodRecreated', message: `shard ${i.shard}: pod ${i.podName} recreated on claim ${i.claimName}` })
    const status: ShardStatus = { ...base, phase: pending ? 'Recovering' : prev.phase === 'Rolling' ? 'Rolling' : 'Creating', ready: false, restarts: 0, specHash: i.desiredHash, ...(pending ? { pendingRecovery: pending } : {}) }
    return { actions, status, events, failed, requeueAfterMs: 1000 }
  }

  const known = prev.podUid === pod.uid
  let pending = prev.pendingRecovery
  let failed: RecoveryReason | undefined
  let restarts = known ? prev.restarts : 0

  if (!known && prev.podUid && !pending && prev.phase !== 'Rolling') {
    // Replaced while we were not looking (the operator restarted between a delete and its status write).
    pending = start('PodReplaced', pod.createdAtMs, `pod ${pod.name} was replaced`)
    pending.podRecreatedAt = iso(pod.createdAtMs)
  }
  if (!known && pending && !pending.podRecreatedAt) pending = { ...pending, podRecreatedAt: iso(pod.createdAtMs) }

  const nodeLost = i.nodeGone === true || (i.nodeNotReadySinceMs !== undefined && i.nowMs - i.nodeNotReadySinceMs >= i.nodeLostTimeoutMs)
  if (pod.deletionRequestedAtMs !== undefined) {
    // Terminating. Wait for it, unless its node is gone and will never confirm.
    if (!pending && prev.phase !== 'Rolling') {
      if (pod.evicted) pending = move(pod.deletionRequestedAtMs, `pod ${pod.name} evicted (a drain or an eviction); it restarts on its claim`)
      else {
        pending = start('PodDeleted', pod.deletionRequestedAtMs, `pod ${pod.name} is being deleted`)
        failed = 'PodDeleted'
      }
    }
    const graceEnd = pod.deletionRequestedAtMs + (pod.deletionGraceSeconds ?? 30) * 1000
    if (nodeLost || i.nowMs - graceEnd >= i.nodeLostTimeoutMs) {
      actions.push({ kind: 'delete-pod', uid: pod.uid, graceSeconds: 0, reason: 'pod stuck terminating on a lost node' })
    }
    const phase: ShardPhase = pending ? 'Recovering' : prev.phase === 'Rolling' ? 'Rolling' : 'Terminating'
    return { actions, status: { ...base, podUid: pod.uid, phase, ready: false, restarts, specHash: pod.specHash, ...(pending ? { pendingRecovery: pending } : {}) }, events, failed, requeueAfterMs: 1000 }
  }

  if (pod.phase === 'Failed' || pod.phase === 'Succeeded') {
    if (!pending) {
      pending = start('PodFailed', i.nowMs, `pod ${pod.name} ended in phase ${pod.phase}`)
      failed = 'PodFailed'
    }
    actions.push({ kind: 'delete-pod', uid: pod.uid, graceSeconds: 0, reason: `pod ended in phase ${pod.phase}` })
    return { actions, status: { ...base, podUid: pod.uid, phase: 'Recovering', ready: false, restarts, specHash: pod.specHash, pendingRecovery: pending }, events, failed, requeueAfterMs: 500 }
  }

  if (nodeLost) {
    if (!pending) {
      pending = start('NodeLost', i.nowMs, i.nodeGone
        ? `node ${pod.nodeName ?? '?'} of pod ${pod.name} no longer exists`
        : `node ${pod.nodeName ?? '?'} of pod ${pod.name} NotReady for ${Math.round((i.nowMs - (i.nodeNotReadySinceMs ?? i.nowMs)) / 1000)} s`)
      failed = 'NodeLost'
    }
    actions.push({ kind: 'delete-pod', uid: pod.uid, graceSeconds: 0, reason: 'node lost' })
    return { actions, status: { ...base, podUid: pod.uid, phase: 'Recovering', ready: false, restarts, specHash: pod.specHash, pendingRecovery: pending }, events, failed, requeueAfterMs: 500 }
  }

  if (known && pod.restarts > prev.restarts) {
    // The kubelet restarted the killed process in place, on the same volume.
    if (!pending) {
      pending = start('ContainerRestarted', pod.lastTerminatedAtMs ?? i.nowMs, `container of pod ${pod.name} restarted (${pod.restarts} restarts)`)
      pending.podRecreatedAt = pending.detectedAt
      failed = 'ContainerRestarted'
    }
    restarts = pod.restarts
  }

  let recovered: Recovery | undefined
  let recoveries = prev.recoveries
  let plannedMoves = prev.plannedMoves ?? 0
  let lastRecovery = prev.lastRecovery
  if (pending && pod.ready) {
    // Ready's lastTransitionTime has whole seconds: the true moment lies in
    // that second and not after now.
    const readyAtMs = Math.max(Math.min(i.nowMs, (pod.readySinceMs ?? i.nowMs) + 999), Date.parse(pending.detectedAt))
    recovered = { ...pending, readyAt: iso(readyAtMs), timeToRecoverMs: readyAtMs - Date.parse(pending.detectedAt) }
    if (recovered.planned) plannedMoves += 1
    else recoveries += 1
    lastRecovery = recovered
    pending = undefined
    events.push(recovered.planned
      ? { type: 'Normal', reason: 'ShardMoved', message: `shard ${i.shard}: ready ${recovered.timeToRecoverMs} ms after its eviction` }
      : { type: 'Normal', reason: 'ShardRecovered', message: `shard ${i.shard}: ready ${recovered.timeToRecoverMs} ms after ${recovered.reason}` })
  }

  // The pod's creationTimestamp has whole seconds; the operator's own record of
  // recreating it is exact.
  const since = Math.max(pod.createdAtMs, pending?.podRecreatedAt ? Date.parse(pending.podRecreatedAt) : 0, pod.nudgedAtMs ?? 0)
  // Only on the kubelet's word: one nudge per refusal it reported.
  const unanswered = (i.claimRefusals ?? 0) > (pod.nudges ?? 0)
  if (pending && unanswered && (pod.nudges ?? 0) < MAX_NUDGES && !pod.started && pod.phase === 'Pending' && pod.nodeName && i.nowMs - since >= NUDGE_AFTER_MS) {
    actions.push({ kind: 'nudge-pod', uid: pod.uid, atMs: i.nowMs, count: (pod.nudges ?? 0) + 1 })
  }

  const stale = pod.specHash !== i.desiredHash
  let phase: ShardPhase = pending ? 'Recovering' : pod.ready ? 'Running' : 'Starting'
  if (stale && i.mayRoll) {
    // A pod that is not ready is replaced without waiting (`shardsToRoll`): a
    // recovery it was in goes on with the new pod.
    actions.push({ kind: 'delete-pod', uid: pod.uid, reason: 'spec changed' })
    const why = pod.ready ? '' : ` (it was not ready${pod.problem ? `: ${pod.problem}` : ''})`
    events.push({ type: 'Normal', reason: 'ShardRolling', message: `shard ${i.shard}: pod ${pod.name} replaced for a spec change${why}` })
    if (!pending) phase = 'Rolling'
  }
  // Not ready since the failure was seen, or since the pod was made: past
  // the deadline, said once by an event and kept in the status until ready.
  const waitingSinceMs = pod.ready ? undefined : pending ? Date.parse(pending.detectedAt) : pod.createdAtMs
  const overdue = waitingSinceMs !== undefined && i.deadlineMs !== undefined && i.nowMs - waitingSinceMs >= i.deadlineMs
  const stalledSince = overdue ? (prev.stalledSince ?? iso(i.nowMs)) : undefined
  if (overdue && !prev.stalledSince) {
    const what = pending ? `recovering from ${pending.reason}` : 'starting'
    events.push({ type: 'Warning', reason: 'ShardStalled', message: `shard ${i.shard}: not ready ${Math.round((i.nowMs - waitingSinceMs) / 1000)} s after ${what}: ${pod.problem ?? `pod ${pod.name} is ${pod.phase} and not ready`}` })
  }
  const status: ShardStatus = {
    ...base,
    recoveries,
    ...(plannedMoves > 0 ? { plannedMoves } : {}),
    lastRecovery,
    podUid: pod.uid,
    phase,
    ready: pod.ready && phase === 'Running',
    restarts,
    specHash: pod.specHash,
    ...(!pod.ready && pod.problem ? { problem: pod.problem } : {}),
    ...(stalledSince ? { stalledSince } : {}),
    ...(pending ? { pendingRecovery: pending } : {}),
  }
  const settled = phase === 'Running' && !stale
  return { actions, status, events, recovered, failed, ...(settled ? {} : { requeueAfterMs: 1000 }) }
}
