import type { CoreV1Event, V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { opbStatusSchema, type PipelineSpec, type ShardStatus } from '@ridepulse/contracts'
import { z } from 'zod'
import {
  ANNOTATION_OPA_PAUSED,
  buildOpaDisruptionBudget,
  buildOpaService,
  buildOpaStatefulSet,
  buildOpbClaim,
  buildOpbDisruptionBudget,
  buildOpbPod,
  buildOpbService,
  FIELD_MANAGER,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_SHARD,
  LABEL_SLOT,
  names,
  opbTemplateHash,
  planOpa,
  WORKER_PORT,
  type Owner,
} from '../core/builders.js'
import { claimLostReason, nodeNotReadySince, observePod, volumeHosts } from '../core/observe.js'
import { planGlobalRestart, shardsToRoll, shardsRequeue, withWorkerReport, withWorkerView } from '../core/pass.js'
import { MAX_NUDGES, planShard, type ObservedPod, type Recovery, type ShardPlan } from '../core/shards.js'
import { isNotFound, objectPath } from '../kube/rest.js'
import type { OperatorMetrics } from '../metrics.js'
import { claimsPath, podsPath, type ClusterWriter, type PipelineResource } from './writer.js'

export interface WorkloadDeps {
  w: ClusterWriter
  metrics: OperatorMetrics
  nowMs: () => number
  /** Whether a recovering shard's kubelet is nudged when it reports the claim forbidden for its node (`NUDGE_AFTER_MS`). */
  kubeletNudge?: boolean
  /** Reads a recovered worker's own report; a failure is recorded, not thrown. */
  fetchWorkerStatus?: (podIp: string, port: number) => Promise<unknown>
  /** How often a running worker's lag is read from its /status (0: never). */
  lagPollMs?: number
  /** When each pod's /status was last asked for its lag, answered or not (so an unreachable pod is not asked on every pass). */
  lagAsked?: Map<string, number>
}

/**
 * Whether the /status of `key` (a pod, or a resource's OpA) is to be read
 * now: at most once per `lagPollMs`, answered or not. Records the read.
 */
function lagReadDue(d: WorkloadDeps, key: string, now: number): boolean {
  if (!d.lagPollMs || !d.fetchWorkerStatus || !d.lagAsked) return false
  const asked = d.lagAsked.get(key)
  if (asked !== undefined && now - asked < d.lagPollMs) return false
  if (d.lagAsked.size > 10_000) d.lagAsked.clear() // pods come and go; a forgotten entry only means one early read
  d.lagAsked.set(key, now)
  return true
}

const selector = (pipeline: string, component: 'opa' | 'opb') => `${LABEL_INSTANCE}=${pipeline},${LABEL_COMPONENT}=${component}`

/** OpA: its service and StatefulSet, held at zero replicas while its instance count changes. */
export async function reconcileOpa(d: WorkloadDeps, res: PipelineResource, owner: Owner, spec: PipelineSpec, log: Logger): Promise<{ sts: V1StatefulSet; hold: boolean; deadLetters?: { deadLettersPerSecond: number; observedAt: string } }> {
  const m = res.metadata
  const stsPath = objectPath('apps/v1', 'statefulsets', m.namespace, names.opa(m.name))
  const [, , current, pods] = await Promise.all([
    d.w.apply(objectPath('v1', 'services', m.namespace, names.opa(m.name)), buildOpaService(owner)),
    d.w.apply(objectPath('policy/v1', 'poddisruptionbudgets', m.namespace, names.opa(m.name)), buildOpaDisruptionBudget(owner)),
    d.w.rest.get<V1StatefulSet>(stsPath).catch((err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    }),
    d.w.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: selector(m.name, 'opa'), resourceVersion: '0' }),
  ])
  const { hold } = planOpa(current, spec, pods.items.length)
  const deadLetters = await opaDeadLetters(d, res, pods.items, log)
  if (hold && current?.metadata?.annotations?.[ANNOTATION_OPA_PAUSED] === undefined) {
    log.info({ from: current?.spec?.replicas, to: spec.opa.replicas }, 'OpA instance count changes: stopping every instance first')
    await d.w.event(res, 'Normal', 'OpaPaused', `OpA goes from ${current?.spec?.replicas} to ${spec.opa.replicas} instances: every old instance stops before a new one starts`)
  }
  const sts = await d.w.rest.apply<V1StatefulSet>(stsPath, buildOpaStatefulSet(owner, spec, hold), FIELD_MANAGER)
  return { sts, hold, ...(deadLetters ? { deadLetters } : {}) }
}

const opaStatusSchema = z.object({ deadLettersPerSecond: z.number() })

/**
 * The ready OpA instances' dead letters per second, summed, when due
 * (`lagPollMs`); else what the status holds. An instance that does not
 * answer is left out, and logged.
 */
async function opaDeadLetters(d: WorkloadDeps, res: PipelineResource, pods: V1Pod[], log: Logger): Promise<{ deadLettersPerSecond: number; observedAt: string } | undefined> {
  const now = d.nowMs()
  const prev = res.status?.opa
  const kept = prev?.observedAt !== undefined ? { deadLettersPerSecond: prev.deadLettersPerSecond ?? 0, observedAt: prev.observedAt } : undefined
  if (!lagReadDue(d, `opa/${res.metadata.uid}`, now)) return kept
  const ready = pods.filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
  let sum = 0
  let answered = 0
  for (const p of ready) {
    try {
      sum += opaStatusSchema.parse(await d.fetchWorkerStatus!(p.status!.podIP!, WORKER_PORT)).deadLettersPerSecond
      answered++
    } catch (err) {
      log.debug({ pod: p.metadata?.name, err }, 'could not read an OpA instance\'s status')
    }
  }
  // No instance answered: what was last read stands, with its age.
  return answered > 0 ? { deadLettersPerSecond: Math.round(sum * 1000) / 1000, observedAt: new Date(now).toISOString() } : kept
}

/** OpB: each shard's claim and pod (two of each with standby shards) as its plan says (core/shards.ts), its events, and the worker's report of a recovery. */
export async function reconcileShards(d: WorkloadDeps, res: PipelineResource, owner: Owner, spec: PipelineSpec, log: Logger): Promise<{ statuses: ShardStatus[]; standbys: ShardStatus[]; requeueAfterMs?: number; failure?: ShardActionsFailed }> {
  const m = res.metadata
  // resourceVersion 0: served from the API server's watch cache. A quorum
  // list waits on etcd's progress notification (tens of ms on every
  // pass); a slightly old view is safe here, since creates tolerate
  // AlreadyExists, deletes carry the pod's uid, and every change of a pod
  // or claim triggers another pass.
  const [, , pods, claims] = await Promise.all([
    d.w.apply(objectPath('v1', 'services', m.namespace, names.opbService(m.name)), buildOpbService(owner)),
    d.w.apply(objectPath('policy/v1', 'poddisruptionbudgets', m.namespace, names.opbBudget(m.name)), buildOpbDisruptionBudget(owner, spec)),
    d.w.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: selector(m.name, 'opb'), resourceVersion: '0' }),
    d.w.rest.get<{ items: V1PersistentVolumeClaim[] }>(claimsPath(m.namespace), { labelSelector: selector(m.name, 'opb'), resourceVersion: '0' }),
  ])
  // A unit is one pod and its claim: shard s, slot 0, and with standby shards slot 1 as well.
  const slots = spec.opb.standby.enabled ? [0, 1] : [0]
  const units = slots.flatMap((slot) => Array.from({ length: spec.opb.shards }, (_, shard) => ({ shard, slot })))
  const unitKey = (shard: number, slot: number) => `${shard}/${slot}`
  const podByUnit = new Map(pods.items.map((p) => [unitKey(Number(p.metadata?.labels?.[LABEL_SHARD]), Number(p.metadata?.labels?.[LABEL_SLOT] ?? 0)), p]))
  const claimByName = new Map(claims.items.map((c) => [c.metadata?.name, c]))
  const nodes = await nodesOf(d, pods.items, log)

  const desiredHash = opbTemplateHash(owner, spec)
  const prevOf = (slot: number) => (slot === 0 ? res.status?.shards : res.status?.standbys) ?? []
  const prevStatuses = units.map((u) => prevOf(u.slot).find((s) => s.shard === u.shard))
  const prev = new Map(prevStatuses.map((s, i) => [i, s]).filter((e): e is [number, ShardStatus] => e[1] !== undefined))
  const observed = units.map((u) => {
    const p = podByUnit.get(unitKey(u.shard, u.slot))
    return p ? observePod(p) : undefined
  })
  const roll = shardsToRoll(observed, prevStatuses.filter((s): s is ShardStatus => s !== undefined), desiredHash)
  const forbidden = d.kubeletNudge ? await claimRefusals(d, m.namespace, observed, prev, log) : new Map<string, number>()
  const now = d.nowMs()
  const claimOf = (i: number) => claimByName.get(names.opbClaim(m.name, units[i]!.shard, units[i]!.slot))
  // Only a unit without a ready pod can have lost its claim: a running one proves it serves.
  const lost = await lostClaims(d, observed.map((pod, i) => (pod?.ready ? undefined : claimOf(i))), now, spec.recovery.nodeLostTimeoutSeconds * 1000, log)
  const plans: ShardPlan[] = observed.map((pod, i) =>
    planShard({
      shard: units[i]!.shard,
      podName: names.opbPod(m.name, units[i]!.shard, units[i]!.slot),
      claimName: names.opbClaim(m.name, units[i]!.shard, units[i]!.slot),
      pod,
      claimExists: claimOf(i) !== undefined,
      claimUid: claimOf(i)?.metadata?.uid,
      claimDeleting: !!claimOf(i)?.metadata?.deletionTimestamp,
      claimLost: lost.get(i),
      lostClaimTimeoutMs: spec.recovery.lostClaimTimeoutSeconds * 1000,
      prev: prev.get(i),
      desiredHash,
      mayRoll: roll.has(i),
      deadlineMs: spec.recovery.deadlineSeconds * 1000,
      nodeNotReadySinceMs: pod?.nodeName ? nodeNotReadySince(nodes.get(pod.nodeName)) : undefined,
      nodeGone: !!pod?.nodeName && !nodes.has(pod.nodeName),
      nodeLostTimeoutMs: spec.recovery.nodeLostTimeoutSeconds * 1000,
      ...(pod && d.kubeletNudge ? { claimRefusals: forbidden.get(pod.uid) ?? 0 } : {}),
      nowMs: now,
    }),
  )
  if (spec.opb.standby.enabled) for (const [i, p] of plans.entries()) p.status = { ...p.status, slot: units[i]!.slot }

  // Shards are independent: their steps run side by side, a few at a time,
  // and one whose action fails stops neither the others nor its own status:
  // what was seen (a failure, a recovery) is recorded once, and the planner,
  // which plans from what it observes, tries the action again next pass.
  const failed: { shard: number; err: unknown }[] = []
  await eachLimited([...plans.entries()], 8, async ([i, plan]) => {
    const { shard, slot } = units[i]!
    const pod = names.opbPod(m.name, shard, slot)
    const claim = names.opbClaim(m.name, shard, slot)
    try {
      for (const a of plan.actions) {
        if (a.kind === 'apply-claim') await d.w.apply(claimsPath(m.namespace, claim), buildOpbClaim(owner, spec, shard, slot))
        else if (a.kind === 'create-pod') await d.w.createPod(buildOpbPod(owner, spec, shard, slot))
        else if (a.kind === 'nudge-pod') await d.w.nudgePod(m.namespace, pod, a.uid, a.atMs, a.count, log.child({ shard, slot }))
        else if (a.kind === 'delete-claim') await d.w.deleteClaim(m.namespace, claim, a.uid)
        else await d.w.deletePod(m.namespace, pod, a.uid, a.graceSeconds)
      }
    } catch (err) {
      failed.push({ shard, err })
    }
    for (const e of plan.events) {
      log.info({ shard, reason: e.reason }, e.message)
      await d.w.event(res, e.type, e.reason, e.message)
    }
    if (plan.recovered) {
      plan.status.lastRecovery = await workerReport(d, plan.recovered, observed[i]?.ip)
      d.metrics.recoveries.inc({ reason: plan.recovered.reason })
      if (plan.recovered.timeToRecoverMs !== undefined) d.metrics.timeToRecover.observe(plan.recovered.timeToRecoverMs / 1000)
    }
  })

  await eachLimited([...plans.entries()], 8, async ([i, plan]) => {
    plan.status = await withLag(d, plan.status, observed[i], prev.get(i), now, log)
    const before = prev.get(i)?.promotions ?? 0
    const p = plan.status.lastPromotion
    const added = (plan.status.promotions ?? 0) - before
    if (added > 0) {
      // This read's owner took over (its time is new), or owners gone since the last read did (the count carried in the announcements).
      const own = p && p.at !== prev.get(i)?.lastPromotion?.at ? p : undefined
      const gone = added - (own ? 1 : 0)
      const msg = [
        own ? `pod ${plan.status.pod} took the shard over as its standby (${own.reason})${own.timeToFirstCommitMs !== undefined ? `, first commit ${own.timeToFirstCommitMs} ms after the detection` : ''}` : undefined,
        gone > 0 ? `${gone} takeover${gone > 1 ? 's' : ''} by owners gone since the last look` : undefined,
      ].filter(Boolean).join('; ')
      log.info({ shard: plan.status.shard, pod: plan.status.pod }, msg)
      if (own) d.metrics.promotions.inc({ reason: own.reason })
      if (gone > 0) d.metrics.promotions.inc({ reason: 'unknown' }, gone)
      await d.w.event(res, 'Normal', 'ShardPromoted', `shard ${plan.status.shard}: ${msg}`)
    }
  })

  const owners = plans.slice(0, spec.opb.shards)
  const restart = planGlobalRestart(spec.recovery.strategy, owners, now)
  if (restart) {
    // The baseline: the whole pipeline restarts from its state, as a restart of every task would.
    await d.w.event(res, 'Warning', 'PipelineRestart', `shard ${restart.failed} failed: restarting every OpA and OpB pod (recovery strategy global)`)
    const opa = await d.w.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: selector(m.name, 'opa') })
    const victims = [...opa.items, ...pods.items.filter((p) => Number(p.metadata?.labels?.[LABEL_SHARD]) !== restart.failed)]
    await Promise.all(victims.map((p) => d.w.deletePod(m.namespace, p.metadata?.name ?? '', p.metadata?.uid ?? '', 0)))
  }
  // While shards run and answer, the next lag read asks for a pass; shards that do not answer are asked
  // again on the next pass for another reason (at the latest the periodic one), not every LAG_POLL_MS.
  const answering = plans.some((p) => p.status.phase === 'Running' && p.status.lag)
  const shardsAsk = shardsRequeue(plans)
  const lagAsk = answering && d.lagPollMs ? d.lagPollMs : undefined
  const requeueAfterMs = shardsAsk === undefined ? lagAsk : lagAsk === undefined ? shardsAsk : Math.min(shardsAsk, lagAsk)
  return {
    statuses: restart?.statuses ?? owners.map((p) => p.status),
    standbys: plans.slice(spec.opb.shards).map((p) => p.status),
    requeueAfterMs,
    ...(failed.length > 0 ? { failure: new ShardActionsFailed(failed.sort((a, b) => a.shard - b.shard)) } : {}),
  }
}

/** Some shards' actions failed in a pass; the others' went through. Its reason is the first failure's cause. */
export class ShardActionsFailed extends Error {
  readonly cause: unknown
  constructor(readonly failures: { shard: number; err: unknown }[]) {
    super(failures.map((f) => `shard ${f.shard}: ${f.err instanceof Error ? f.err.message : String(f.err)}`).join('; '))
    this.name = 'ShardActionsFailed'
    this.cause = failures[0]?.err
  }
}

/**
 * For each recovering shard whose pod sits on its node with no container
 * started, how many times its kubelet reported that the Node authorizer
 * refused it the pod's claim (FailedMount events "… persistentvolumeclaims
 * … is forbidden: … no relationship found between node …", with their
 * counts), by pod uid. One list of events per such pod, and only while the
 * nudge is on; a failed list is no evidence.
 */
async function claimRefusals(d: WorkloadDeps, namespace: string, observed: (ObservedPod | undefined)[], prev: Map<number, ShardStatus>, log: Logger): Promise<Map<string, number>> {
  const found = new Map<string, number>()
  const waiting = observed.filter((p, shard): p is ObservedPod => !!p && !!prev.get(shard)?.pendingRecovery && p.phase === 'Pending' && !p.started && !!p.nodeName && (p.nudges ?? 0) < MAX_NUDGES)
  await eachLimited(waiting, 4, async (p) => {
    try {
      const events = await d.w.rest.get<{ items: CoreV1Event[] }>(objectPath('v1', 'events', namespace), { fieldSelector: `involvedObject.uid=${p.uid},reason=FailedMount` })
      const refusals = events.items
        .filter((e) => /persistentvolumeclaims/.test(e.message ?? '') && /forbidden/.test(e.message ?? '') && /no relationship found between node/.test(e.message ?? ''))
        .reduce((n, e) => n + Math.max(1, e.count ?? 1), 0)
      if (refusals > 0) found.set(p.uid, refusals)
    } catch (err) {
      log.warn({ pod: p.name, err }, 'could not read the events of a pod waiting on its node')
    }
  })
  return found
}

/**
 * Why each given claim (by shard) is lost, if it is (`claimLostReason`): its
 * volume read, and the nodes it is pinned to looked up by host name. A read
 * that fails is no evidence: the claim counts as fine this pass.
 */
async function lostClaims(d: WorkloadDeps, claims: (V1PersistentVolumeClaim | undefined)[], nowMs: number, nodeLostTimeoutMs: number, log: Logger): Promise<Map<number, string>> {
  const out = new Map<number, string>()
  await eachLimited([...claims.entries()], 4, async ([shard, claim]) => {
    if (!claim || claim.metadata?.deletionTimestamp) return
    try {
      let pv: V1PersistentVolume | 'gone' | undefined
      const volume = claim.spec?.volumeName
      if (claim.status?.phase === 'Bound' && volume) {
        pv = await d.w.rest.get<V1PersistentVolume>(objectPath('v1', 'persistentvolumes', undefined, volume)).catch((err: unknown) => {
          if (isNotFound(err)) return 'gone' as const
          throw err
        })
      }
      const nodes = new Map<string, V1Node | 'gone'>()
      for (const host of pv && pv !== 'gone' ? volumeHosts(pv) : []) {
        const found = await d.w.rest.get<{ items: V1Node[] }>(objectPath('v1', 'nodes', undefined), { labelSelector: `kubernetes.io/hostname=${host}` })
        nodes.set(host, found.items[0] ?? 'gone')
      }
      const why = claimLostReason(claim, pv, nodes, nowMs, nodeLostTimeoutMs)
      if (why) out.set(shard, why)
    } catch (err) {
      log.warn({ shard, claim: claim.metadata?.name, err }, 'could not tell whether a shard\'s claim is lost')
    }
  })
  return out
}

/** The nodes of the shards' pods; one that is gone is left out (its pods then count as on a lost node). */
async function nodesOf(d: WorkloadDeps, pods: V1Pod[], log: Logger): Promise<Map<string, V1Node>> {
  const nodes = new Map<string, V1Node>()
  for (const n of new Set(pods.map((p) => p.spec?.nodeName).filter((x): x is string => !!x))) {
    try {
      nodes.set(n, await d.w.rest.get<V1Node>(objectPath('v1', 'nodes', undefined, n)))
    } catch (err) {
      if (!isNotFound(err)) throw err
      log.warn({ node: n }, 'node of an OpB pod is gone')
    }
  }
  return nodes
}

/**
 * A running shard's lag from its /status, read when due (`lagPollMs`); kept
 * from the last read in between; none while the shard does not run. A read
 * that fails keeps the last one (its `observedAt` says how old it is).
 */
async function withLag(d: WorkloadDeps, status: ShardStatus, pod: ObservedPod | undefined, prev: ShardStatus | undefined, now: number, log: Logger): Promise<ShardStatus> {
  const samePod = !!pod && prev?.podUid === pod.uid
  if (status.phase !== 'Running' || !pod?.ip) return withWorkerView(status, prev, false, undefined, now)
  if (!lagReadDue(d, pod.uid, now)) return withWorkerView(status, prev, samePod, undefined, now)
  try {
    const parsed = opbStatusSchema.parse(await d.fetchWorkerStatus!(pod.ip, WORKER_PORT))
    return withWorkerView(status, prev, samePod, parsed, now)
  } catch (err) {
    log.debug({ shard: status.shard, err }, 'could not read a shard\'s lag')
    return withWorkerView(status, prev, samePod, undefined, now)
  }
}

async function workerReport(d: WorkloadDeps, r: Recovery, ip: string | undefined): Promise<Recovery> {
  if (!d.fetchWorkerStatus || !ip) return r
  try {
    const parsed = opbStatusSchema.safeParse(await d.fetchWorkerStatus(ip, WORKER_PORT))
    return withWorkerReport(r, parsed.success ? { ok: true, lastRecovery: parsed.data.lastRecovery } : { ok: false, error: `unreadable worker status: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` })
  } catch (err) {
    return withWorkerReport(r, { ok: false, error: err instanceof Error ? err.message : String(err) })
  }
}

/** Runs `fn` over `items`, at most `limit` at once; the first failure is thrown once all have settled. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const errors: unknown[] = []
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await fn(item).catch((err: unknown) => errors.push(err))
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  if (errors.length > 0) throw errors[0]
}
