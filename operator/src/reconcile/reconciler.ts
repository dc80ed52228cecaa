import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet, V1Node, V1Secret } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import {
  ANNOTATION_OPA_PAUSED,
  ANNOTATION_NUDGED_AT,
  ANNOTATION_SPEC_HASH,
  buildOpaService,
  buildOpaStatefulSet,
  buildOpbClaim,
  buildOpbPod,
  buildOpbService,
  FIELD_MANAGER,
  FINALIZER,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_SHARD,
  names,
  opbTemplateHash,
  planOpa,
  WORKER_PORT,
  type Owner,
} from '../core/builders.js'
import { planShard, type ObservedPod, type Recovery, type ShardPlan, type ShardStatus } from '../core/shards.js'
import { API_VERSION, KIND, opbStatusSchema, parseResource, PLURAL, type PipelineSpec } from '@ridepulse/contracts'
import { computeStatus, invalidStatus, sameJson, type PipelineStatus, type StepFailure, type TopicStatus } from '../core/status.js'
import { desiredTopics, planTopics } from '../core/topics.js'
import { PipelineTopics } from '../kafka/admin.js'
import { ApiError, isConflict, isNotFound, objectPath, type Rest } from '../kube/rest.js'
import type { OperatorMetrics } from '../metrics.js'

export interface PipelineResource {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; uid: string; generation?: number; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[] }
  spec: unknown
  status?: Partial<PipelineStatus>
}

export interface ReconcilerDeps {
  rest: Rest
  log: Logger
  metrics: OperatorMetrics
  identity: string
  nowMs?: () => number
  /** Reads a recovered worker's own report; a failure is recorded, not thrown. */
  fetchWorkerStatus?: (podIp: string, port: number) => Promise<unknown>
  /** How often the broker's topics are checked when nothing else changed. */
  topicCheckEveryMs?: number
  /** Asks for another pass over a resource (a background check finished). */
  requeue: (key: string) => void
}

interface TopicCheck {
  generation: number
  atMs: number
  running: boolean
  status?: TopicStatus[]
  failure?: StepFailure
}

const resourcePath = (ns: string, name?: string) => objectPath(API_VERSION, PLURAL, ns, name)
const podsPath = (ns: string, name?: string) => objectPath('v1', 'pods', ns, name)
const claimsPath = (ns: string, name?: string) => objectPath('v1', 'persistentvolumeclaims', ns, name)
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
  }
}

/** Since when a node has not been Ready, or undefined. */
function nodeNotReadySince(node: V1Node | undefined): number | undefined {
  const c = node?.status?.conditions?.find((x) => x.type === 'Ready')
  if (!c || c.status === 'True') return undefined
  return msOf(c.lastTransitionTime)
}

/**
 * One pass over one StatefulOperator: validate → finalizer → topics → OpA →
 * OpB claims and pods → status. Each step's failure becomes a condition and
 * a Warning event; the pass goes on with the steps that do not depend on it.
 */
export class Reconciler {
  readonly #now: () => number
  readonly #topicChecks = new Map<string, TopicCheck>()

  constructor(private readonly d: ReconcilerDeps) {
    this.#now = d.nowMs ?? Date.now
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split('/') as [string, string]
    const started = performance.now()
    const log = this.d.log.child({ resource: key })
    let res: PipelineResource
    try {
      res = await this.d.rest.get<PipelineResource>(resourcePath(namespace, name))
    } catch (err) {
      if (isNotFound(err)) {
        this.#topicChecks.delete(key)
        return {}
      }
      throw err
    }
    try {
      return await this.#reconcile(res, log)
    } finally {
      this.d.metrics.reconcileSeconds.observe((performance.now() - started) / 1000)
    }
  }

  async #reconcile(res: PipelineResource, log: Logger): Promise<{ requeueAfterMs?: number }> {
    const m = res.metadata
    const owner: Owner = { name: m.name, namespace: m.namespace, uid: m.uid }
    const generation = m.generation ?? 0

    if (m.deletionTimestamp) return await this.#finalize(res, log)

    const parsed = parseResource(m.name, res.spec)
    if (!parsed.ok) {
      const message = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')
      const status = invalidStatus(generation, this.#now(), res.status, message)
      if (!sameJson(status, res.status)) {
        log.warn({ issues: parsed.issues }, 'invalid spec')
        await this.#event(res, 'Warning', 'InvalidSpec', message)
        await this.#writeStatus(res, status)
      }
      return {}
    }
    const spec = parsed.spec

    if (!m.finalizers?.includes(FINALIZER)) {
      await this.d.rest.mergePatch(resourcePath(m.namespace, m.name), { metadata: { finalizers: [...(m.finalizers ?? []), FINALIZER], resourceVersion: m.resourceVersion } })
    }

    const failures: StepFailure[] = []
    const step = async <T>(stepName: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn()
      } catch (err) {
        const f = { step: stepName, reason: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) }
        failures.push(f)
        log.warn({ err, step: stepName }, 'step failed')
        this.d.metrics.stepFailures.inc({ step: stepName })
        await this.#event(res, 'Warning', 'StepFailed', `${stepName}: ${f.message}`).catch((e: unknown) => log.warn({ err: e }, 'could not record event'))
        return undefined
      }
    }

    // The broker is checked beside the pass, never in its way: a shard is
    // healed even while Kafka is unreachable.
    const topicCheck = this.#topics(res, spec, `${m.namespace}/${m.name}`, log)
    if (topicCheck?.failure) failures.push(topicCheck.failure)
    const topics = topicCheck?.status
    // OpA and OpB are independent: neither step waits on the other.
    const [opaSts, shards] = await Promise.all([
      step('opa', async () => {
        const stsPath = objectPath('apps/v1', 'statefulsets', m.namespace, names.opa(m.name))
        const [, current, pods] = await Promise.all([
          this.#apply(objectPath('v1', 'services', m.namespace, names.opa(m.name)), buildOpaService(owner)),
          this.d.rest.get<V1StatefulSet>(stsPath).catch((err: unknown) => {
            if (isNotFound(err)) return undefined
            throw err
          }),
          this.d.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: `${LABEL_INSTANCE}=${m.name},${LABEL_COMPONENT}=opa`, resourceVersion: '0' }),
        ])
        const { hold } = planOpa(current, spec, pods.items.length)
        if (hold && current?.metadata?.annotations?.[ANNOTATION_OPA_PAUSED] === undefined) {
          log.info({ from: current?.spec?.replicas, to: spec.opa.replicas }, 'OpA instance count changes: stopping every instance first')
          await this.#event(res, 'Normal', 'OpaPaused', `OpA goes from ${current?.spec?.replicas} to ${spec.opa.replicas} instances: every old instance stops before a new one starts`)
        }
        const sts = await this.d.rest.apply<V1StatefulSet>(stsPath, buildOpaStatefulSet(owner, spec, hold), FIELD_MANAGER)
        return { sts, hold }
      }),
      step('opb', () => this.#shards(res, owner, spec, log)),
    ])

    const status = computeStatus({
      generation,
      nowMs: this.#now(),
      prev: res.status,
      shards: shards?.statuses ?? res.status?.shards ?? [],
      opa: { replicas: spec.opa.replicas, readyReplicas: opaSts?.hold ? 0 : (opaSts?.sts.status?.readyReplicas ?? 0) },
      topics,
      failures,
    })
    if (!sameJson(status, res.status)) await this.#writeStatus(res, status)
    this.d.metrics.shardsReady.set({ resource: `${m.namespace}/${m.name}` }, status.readyShards)
    if (failures.length > 0) throw new ReconcileStepsFailed(failures)
    return { requeueAfterMs: opaSts?.hold ? 500 : (shards?.requeueAfterMs ?? 60_000) }
  }

  #topics(res: PipelineResource, spec: PipelineSpec, key: string, log: Logger): TopicCheck | undefined {
    const generation = res.metadata.generation ?? 0
    const last = this.#topicChecks.get(key)
    const every = last?.failure || last?.status?.some((t) => !t.ready) ? 5_000 : (this.d.topicCheckEveryMs ?? 60_000)
    const due = !last || last.generation !== generation || this.#now() - last.atMs >= every
    if (due && !last?.running) {
      const check: TopicCheck = { ...(last ?? { status: undefined }), generation, atMs: this.#now(), running: true }
      this.#topicChecks.set(key, check)
      void this.#checkTopics(res, spec)
        .then((status) => {
          const changed = !sameJson(status, check.status) || check.failure
          Object.assign(check, { running: false, status, failure: undefined, atMs: this.#now() })
          if (changed) this.d.requeue(key)
        })
        .catch((err: unknown) => {
          const failure = { step: 'topics', reason: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) }
          log.warn({ err }, 'topics check failed')
          this.d.metrics.stepFailures.inc({ step: 'topics' })
          const changed = check.failure?.message !== failure.message
          Object.assign(check, { running: false, failure, atMs: this.#now() })
          if (changed) {
            void this.#event(res, 'Warning', 'StepFailed', `topics: ${failure.message}`).catch((e: unknown) => log.warn({ err: e }, 'could not record event'))
            this.d.requeue(key)
          }
        })
    }
    return last
  }

  async #checkTopics(res: PipelineResource, spec: PipelineSpec): Promise<TopicStatus[]> {
    const sasl = await this.#sasl(res, spec)
    const admin = new PipelineTopics({ brokers: spec.kafka.bootstrapServers, clientId: `${res.metadata.name}-operator`, ...(sasl ? { sasl } : {}) })
    try {
      const desired = desiredTopics(spec)
      const plan = planTopics(desired, await admin.observe(desired))
      if (plan.actions.length > 0) {
        await admin.apply(plan.actions, spec.kafka.replicationFactor)
        for (const a of plan.actions) await this.#event(res, 'Normal', a.kind === 'create' ? 'TopicCreated' : 'PartitionsAdded', `${a.topic.name}: ${a.topic.partitions} partitions`)
      }
      return plan.status
    } finally {
      await admin.close()
    }
  }

  async #sasl(res: PipelineResource, spec: PipelineSpec) {
    const c = spec.kafka.credentials
    if (!c) return undefined
    const secret = await this.d.rest.get<V1Secret>(objectPath('v1', 'secrets', res.metadata.namespace, c.secretName))
    const read = (k: string) => {
      const v = secret.data?.[k]
      if (v === undefined) throw new Error(`secret ${c.secretName} has no key ${k}`)
      return Buffer.from(v, 'base64').toString('utf8')
    }
    return { mechanism: c.mechanism, username: read(c.usernameKey), password: read(c.passwordKey) }
  }

  async #shards(res: PipelineResource, owner: Owner, spec: PipelineSpec, log: Logger): Promise<{ statuses: ShardStatus[]; requeueAfterMs?: number }> {
    const m = res.metadata
    const selector = (component: string) => `${LABEL_INSTANCE}=${m.name},${LABEL_COMPONENT}=${component}`
    // resourceVersion 0: served from the API server's watch cache. A quorum
    // list waits on etcd's progress notification (tens of ms on every
    // pass); a slightly old view is safe here, since creates tolerate
    // AlreadyExists, deletes carry the pod's uid, and every change of a pod
    // or claim triggers another pass.
    const [, pods, claims] = await Promise.all([
      this.#apply(objectPath('v1', 'services', m.namespace, names.opbService(m.name)), buildOpbService(owner)),
      this.d.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: selector('opb'), resourceVersion: '0' }),
      this.d.rest.get<{ items: V1PersistentVolumeClaim[] }>(claimsPath(m.namespace), { labelSelector: selector('opb'), resourceVersion: '0' }),
    ])
    const podByShard = new Map(pods.items.map((p) => [Number(p.metadata?.labels?.[LABEL_SHARD]), p]))
    const claimNames = new Set(claims.items.map((c) => c.metadata?.name))
    const nodeNames = [...new Set(pods.items.map((p) => p.spec?.nodeName).filter((n): n is string => !!n))]
    const nodes = new Map<string, V1Node | undefined>()
    for (const n of nodeNames) {
      try {
        nodes.set(n, await this.d.rest.get<V1Node>(objectPath('v1', 'nodes', undefined, n)))
      } catch (err) {
        if (!isNotFound(err)) throw err
        log.warn({ node: n }, 'node of an OpB pod is gone')
      }
    }

    const desiredHash = opbTemplateHash(owner, spec)
    const prev = new Map((res.status?.shards ?? []).map((s) => [s.shard, s]))
    const observed = Array.from({ length: spec.opb.shards }, (_, shard) => {
      const p = podByShard.get(shard)
      return p ? observePod(p) : undefined
    })
    // Roll one shard at a time, and only when every shard is ready and current.
    const allReady = observed.every((p) => p?.ready && p.deletionRequestedAtMs === undefined)
    const rolling = [...prev.values()].some((s) => s.phase === 'Rolling')
    const firstStale = allReady && !rolling ? observed.findIndex((p) => p?.specHash !== desiredHash) : -1
    const now = this.#now()
    const plans: ShardPlan[] = observed.map((pod, shard) =>
      planShard({
        shard,
        podName: names.opbPod(m.name, shard),
        claimName: names.opbClaim(m.name, shard),
        pod,
        claimExists: claimNames.has(names.opbClaim(m.name, shard)),
        prev: prev.get(shard),
        desiredHash,
        mayRoll: shard === firstStale,
        nodeNotReadySinceMs: pod?.nodeName ? nodeNotReadySince(nodes.get(pod.nodeName)) : undefined,
        nodeLostTimeoutMs: spec.recovery.nodeLostTimeoutSeconds * 1000,
        nowMs: now,
      }),
    )

    const globalRestart = spec.recovery.strategy === 'global' && plans.some((p) => p.failed)
    // Shards are independent: their steps run side by side, a few at a time.
    await eachLimited([...plans.entries()], 8, async ([shard, plan]) => {
      for (const a of plan.actions) {
        if (a.kind === 'apply-claim') await this.#apply(claimsPath(m.namespace, names.opbClaim(m.name, shard)), buildOpbClaim(owner, spec, shard))
        else if (a.kind === 'create-pod') await this.#createPod(buildOpbPod(owner, spec, shard))
        else if (a.kind === 'nudge-pod') await this.#nudgePod(m.namespace, names.opbPod(m.name, shard), a.uid, a.atMs, log.child({ shard }))
        else await this.#deletePod(m.namespace, names.opbPod(m.name, shard), a.uid, a.graceSeconds)
      }
      for (const e of plan.events) {
        log.info({ shard, reason: e.reason }, e.message)
        await this.#event(res, e.type, e.reason, e.message)
      }
      if (plan.recovered) {
        const pod = observed[shard]
        plan.status.lastRecovery = await this.#withWorkerReport(plan.recovered, pod?.ip)
        this.d.metrics.recoveries.inc({ reason: plan.recovered.reason })
        if (plan.recovered.timeToRecoverMs !== undefined) this.d.metrics.timeToRecover.observe(plan.recovered.timeToRecoverMs / 1000)
      }
    })
    if (globalRestart) {
      // The baseline: the whole pipeline restarts from its state, as a restart of every task would.
      const failed = plans.findIndex((p) => p.failed)
      await this.#event(res, 'Warning', 'PipelineRestart', `shard ${failed} failed: restarting every OpA and OpB pod (recovery strategy global)`)
      const opa = await this.d.rest.get<{ items: V1Pod[] }>(podsPath(m.namespace), { labelSelector: selector('opa') })
      const victims = [...opa.items, ...pods.items.filter((p) => Number(p.metadata?.labels?.[LABEL_SHARD]) !== failed)]
      await Promise.all(victims.map((p) => this.#deletePod(m.namespace, p.metadata?.name ?? '', p.metadata?.uid ?? '', 0)))
      for (const [shard, plan] of plans.entries()) {
        if (shard !== failed && !plan.status.pendingRecovery) {
          plan.status.pendingRecovery = { reason: 'PipelineRestart', detectedAt: new Date(now).toISOString() }
          plan.status.phase = 'Recovering'
        }
      }
    }
    const requeues = plans.map((p) => p.requeueAfterMs).filter((x): x is number => x !== undefined)
    return { statuses: plans.map((p) => p.status), requeueAfterMs: requeues.length ? Math.min(...requeues) : undefined }
  }

  async #withWorkerReport(r: Recovery, ip: string | undefined): Promise<Recovery> {
    if (!this.d.fetchWorkerStatus || !ip) return r
    try {
      const parsed = opbStatusSchema.safeParse(await this.d.fetchWorkerStatus(ip, WORKER_PORT))
      if (!parsed.success) return { ...r, statusError: `unreadable worker status: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` }
      const w = parsed.data.lastRecovery
      if (!w) return { ...r, statusError: 'the worker reports no recovery' }
      return {
        ...r,
        ...(w.snapshot?.snapshotId ? { snapshotId: w.snapshot.snapshotId, snapshotKind: w.snapshot.kind } : { snapshotKind: 'none' }),
        replayedRecords: w.replayedRecords,
        replayedBytes: w.replayedBytes,
        workerTimeToRecoverMs: w.timeToRecoverMs,
      }
    } catch (err) {
      return { ...r, statusError: err instanceof Error ? err.message : String(err) }
    }
  }

  async #finalize(res: PipelineResource, log: Logger): Promise<{ requeueAfterMs?: number }> {
    const m = res.metadata
    if (!m.finalizers?.includes(FINALIZER)) return {}
    const parsed = parseResource(m.name, res.spec)
    const deleteClaims = parsed.ok && parsed.spec.opb.storage.deleteClaim
    const claims = await this.d.rest.get<{ items: V1PersistentVolumeClaim[] }>(claimsPath(m.namespace), { labelSelector: `${LABEL_INSTANCE}=${m.name},${LABEL_COMPONENT}=opb` })
    for (const c of claims.items) {
      const claimName = c.metadata?.name ?? ''
      if (deleteClaims) {
        await this.d.rest.delete(claimsPath(m.namespace, claimName)).catch((err: unknown) => {
          if (!isNotFound(err)) throw err
        })
      } else {
        // Released: no longer owned, so the garbage collector keeps it.
        const refs = (c.metadata?.ownerReferences ?? []).filter((r) => r.uid !== m.uid)
        await this.d.rest.mergePatch(claimsPath(m.namespace, claimName), { metadata: { ownerReferences: refs.length ? refs : null } })
      }
    }
    log.info({ claims: claims.items.length, deleteClaims }, deleteClaims ? 'claims deleted' : 'claims kept')
    await this.d.rest.mergePatch(resourcePath(m.namespace, m.name), {
      metadata: { finalizers: (m.finalizers ?? []).filter((f) => f !== FINALIZER), resourceVersion: m.resourceVersion },
    })
    return {}
  }

  async #apply(path: string, obj: { metadata?: { name?: string } }): Promise<void> {
    await this.d.rest.apply(path, obj as never, FIELD_MANAGER)
  }

  async #createPod(pod: V1Pod): Promise<void> {
    try {
      await this.d.rest.request('POST', podsPath(pod.metadata?.namespace ?? ''), { body: pod })
    } catch (err) {
      // Still terminating, or created by an earlier pass: the next pass sees it.
      if (!(err instanceof ApiError && err.code === 409)) throw err
    }
  }

  /** A change of annotations only, which the pod's kubelet takes as a reason to sync it again (see `NUDGE_AFTER_MS`). */
  async #nudgePod(ns: string, name: string, uid: string, atMs: number, log: Logger): Promise<void> {
    try {
      // The uid makes it a precondition: a newer pod of the same name is left alone.
      await this.d.rest.mergePatch(podsPath(ns, name), { metadata: { uid, annotations: { [ANNOTATION_NUDGED_AT]: new Date(atMs).toISOString() } } })
      log.info({ pod: name }, 'replacement pod has no container started yet: nudged its kubelet')
    } catch (err) {
      // Best effort: without it the kubelet still retries after its back-off,
      // so a refusal (an older Role without patch on pods) is not a failed step.
      if (!(isNotFound(err) || isConflict(err))) log.warn({ pod: name, err }, 'could not nudge the kubelet of a replacement pod')
    }
  }

  async #deletePod(ns: string, name: string, uid: string, graceSeconds?: number): Promise<void> {
    try {
      await this.d.rest.delete(podsPath(ns, name), { uid, ...(graceSeconds !== undefined ? { gracePeriodSeconds: graceSeconds } : {}) })
    } catch (err) {
      // Already gone, or a newer pod with the same name (the uid precondition failed).
      if (!(isNotFound(err) || isConflict(err))) throw err
    }
  }

  /** The one writer of the status subresource: skips no-ops, retries on conflict with the latest version. */
  async #writeStatus(res: PipelineResource, status: PipelineStatus): Promise<void> {
    let current = res
    for (let attempt = 0; ; attempt++) {
      try {
        await this.d.rest.request('PUT', `${resourcePath(current.metadata.namespace, current.metadata.name)}/status`, { body: { ...current, status } })
        return
      } catch (err) {
        if (!isConflict(err) || attempt >= 4) throw err
        current = await this.d.rest.get<PipelineResource>(resourcePath(res.metadata.namespace, res.metadata.name))
      }
    }
  }

  async #event(res: PipelineResource, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.#now()).toISOString()
    await this.d.rest.request('POST', objectPath('v1', 'events', res.metadata.namespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${res.metadata.name}.`, namespace: res.metadata.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name: res.metadata.name, namespace: res.metadata.namespace, uid: res.metadata.uid },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: this.d.identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    })
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

/** A pass in which some steps failed: the work queue retries it with backoff. */
export class ReconcileStepsFailed extends Error {
  constructor(readonly failures: StepFailure[]) {
    super(failures.map((f) => `${f.step}: ${f.message}`).join('; '))
    this.name = 'ReconcileStepsFailed'
  }
}
