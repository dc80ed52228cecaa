import type { V1PersistentVolumeClaim } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { parseResource, topicsInUse, type PipelineSpec, type ShardStatus, type TopicStatus } from '@ridepulse/contracts'
import { ANNOTATION_PAUSE, ANNOTATION_RESTART, FINALIZER, LABEL_COMPONENT, LABEL_INSTANCE, type Owner } from '../core/builders.js'
import { done, nextPass, proceed, requeue, stepFailure, type StepOutcome } from '../core/pass.js'
import { computeStatus, invalidStatus, pausedStatus, sameJson, type StepFailure } from '../core/status.js'
import { isNotFound, type Rest } from '../kube/rest.js'
import type { OperatorMetrics } from '../metrics.js'
import { TopicChecks } from './topics.js'
import { reconcileOpa, reconcileShards, type WorkloadDeps } from './workloads.js'
import { claimsPath, ClusterWriter, resourcePath, type PipelineResource } from './writer.js'

export type { PipelineResource } from './writer.js'

export interface ReconcilerDeps {
  rest: Rest
  log: Logger
  metrics: OperatorMetrics
  identity: string
  nowMs?: () => number
  /** Reads a recovered worker's own report; a failure is recorded, not thrown. */
  fetchWorkerStatus?: (podIp: string, port: number) => Promise<unknown>
  /** Nudge a recovering shard's kubelet on its report of a forbidden claim (off unless set). */
  kubeletNudge?: boolean
  /** How often a running worker's lag is read from its /status (0: never). */
  lagPollMs?: number
  /** How often the broker's topics are checked when nothing else changed. */
  topicCheckEveryMs?: number
  /** Asks for another pass over a resource (a background check finished). */
  requeue: (key: string) => void
}

/** What the steps of one pass share. */
interface Pass {
  key: string
  res: PipelineResource
  owner: Owner
  log: Logger
  /** Set by `validate`. */
  spec?: PipelineSpec
  failures: StepFailure[]
  topics?: TopicStatus[]
  /** Set by `topics`: whether the written topics are this resource's own (no pods are made or changed until they are). */
  mayWrite?: boolean
  opa?: { readyReplicas: number; deadLettersPerSecond?: number; observedAt?: string }
  shards?: ShardStatus[]
  standbys?: ShardStatus[]
}

interface Step {
  name: string
  run(p: Pass): Promise<StepOutcome>
}

/** When nothing asks for a pass sooner. */
const RESYNC_MS = 60_000
/** How soon a resource whose topics are not (yet) its own is looked at again; the topic check itself runs at most this often then. */
const TOPIC_RECHECK_MS = 5_000

/**
 * One pass over one StatefulOperator, as a list of named steps: deleting →
 * validate → finalizer → topics → OpA and OpB side by side → status. A step
 * says continue, requeue (when, and why) or done; a step that throws becomes
 * a condition and a Warning event, and the pass goes on with the steps that
 * do not depend on it.
 */
export class Reconciler {
  readonly #now: () => number
  readonly #w: ClusterWriter
  readonly #topics: TopicChecks
  readonly #workloads: WorkloadDeps
  readonly #steps: (Step | Step[])[]

  constructor(private readonly d: ReconcilerDeps) {
    this.#now = d.nowMs ?? Date.now
    this.#w = new ClusterWriter(d.rest, d.identity, this.#now)
    this.#topics = new TopicChecks(this.#w, d.metrics, this.#now, d.topicCheckEveryMs ?? RESYNC_MS, d.requeue)
    this.#workloads = { w: this.#w, metrics: d.metrics, nowMs: this.#now, kubeletNudge: d.kubeletNudge ?? false, lagPollMs: d.lagPollMs ?? 0, lagAsked: new Map(), ...(d.fetchWorkerStatus ? { fetchWorkerStatus: d.fetchWorkerStatus } : {}) }
    this.#steps = [
      { name: 'deleting', run: (p) => this.#deleting(p) },
      { name: 'paused', run: (p) => this.#paused(p) },
      { name: 'validate', run: (p) => this.#validate(p) },
      { name: 'finalizer', run: (p) => this.#finalizer(p) },
      { name: 'topics', run: async (p) => this.#checkTopics(p) },
      // OpA and OpB are independent: neither waits on the other.
      [
        { name: 'opa', run: (p) => this.#opa(p) },
        { name: 'opb', run: (p) => this.#opb(p) },
      ],
      { name: 'status', run: (p) => this.#status(p) },
    ]
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
        this.#topics.forget(key)
        // A deleted resource's series go: an alert must not fire for it.
        for (const g of [this.d.metrics.shardsReady, this.d.metrics.shardsDesired, this.d.metrics.shardsStalled, this.d.metrics.topicsNotReady, this.d.metrics.paused]) g.remove({ resource: key })
        return {}
      }
      throw err
    }
    try {
      const m = res.metadata
      const restartedAt = m.annotations?.[ANNOTATION_RESTART]
      const owner: Owner = { name: m.name, namespace: m.namespace, uid: m.uid, ...(restartedAt ? { restartedAt } : {}) }
      const pass: Pass = { key, res, owner, log, failures: [] }
      const outcomes: StepOutcome[] = []
      for (const entry of this.#steps) {
        const ran = await Promise.all((Array.isArray(entry) ? entry : [entry]).map((s) => this.#run(s, pass)))
        outcomes.push(...ran)
        if (ran.some((o) => o.kind === 'done')) return {}
      }
      if (pass.failures.length > 0) throw new ReconcileStepsFailed(pass.failures)
      return { requeueAfterMs: nextPass(outcomes, RESYNC_MS).afterMs }
    } finally {
      this.d.metrics.reconcileSeconds.observe((performance.now() - started) / 1000)
    }
  }

  async #run(step: Step, p: Pass): Promise<StepOutcome> {
    try {
      return await step.run(p)
    } catch (err) {
      const f = stepFailure(step.name, err)
      p.failures.push(f)
      p.log.warn({ err, step: step.name }, 'step failed')
      this.d.metrics.stepFailures.inc({ step: step.name })
      await this.#w.event(p.res, 'Warning', 'StepFailed', `${step.name}: ${f.message}`).catch((e: unknown) => p.log.warn({ err: e }, 'could not record event'))
      return proceed
    }
  }

  /** A resource being deleted: release or delete its claims (deleteClaim), then let it go. */
  async #deleting(p: Pass): Promise<StepOutcome> {
    const m = p.res.metadata
    if (!m.deletionTimestamp) return proceed
    if (!m.finalizers?.includes(FINALIZER)) return done('deleting')
    const parsed = parseResource(m, p.res.spec, topicsInUse(p.res.status))
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
    p.log.info({ claims: claims.items.length, deleteClaims }, deleteClaims ? 'claims deleted' : 'claims kept')
    if (parsed.ok) await this.#topics.release(p.res, parsed.spec, p.log)
    await this.d.rest.mergePatch(resourcePath(m.namespace, m.name), {
      metadata: { finalizers: (m.finalizers ?? []).filter((f) => f !== FINALIZER), resourceVersion: m.resourceVersion },
    })
    return done('deleting')
  }

  /**
   * Paused by annotation (as Strimzi's and CloudNativePG's are): nothing is
   * created, changed or recovered, the status says so once. Deletion is not
   * paused: a resource being deleted is released above.
   */
  async #paused(p: Pass): Promise<StepOutcome> {
    const { res } = p
    if (res.metadata.annotations?.[ANNOTATION_PAUSE] !== 'true') return proceed
    this.d.metrics.paused.set({ resource: p.key }, 1)
    const status = pausedStatus(res.metadata.generation ?? 0, this.#now(), res.status)
    if (!sameJson(status, res.status)) {
      p.log.info('reconciliation paused by annotation')
      if (res.status?.phase !== 'Paused') await this.#w.event(res, 'Normal', 'ReconciliationPaused', `paused by the ${ANNOTATION_PAUSE} annotation: nothing changes until it is removed`)
      await this.#w.writeStatus(res, status)
    }
    return done('paused')
  }

  /** An invalid spec touches nothing: its status says why, once. */
  async #validate(p: Pass): Promise<StepOutcome> {
    const { res } = p
    const parsed = parseResource(res.metadata, res.spec, topicsInUse(res.status))
    if (parsed.ok) {
      p.spec = parsed.spec
      return proceed
    }
    const message = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')
    const status = invalidStatus(res.metadata.generation ?? 0, this.#now(), res.status, message)
    if (!sameJson(status, res.status)) {
      p.log.warn({ issues: parsed.issues }, 'invalid spec')
      await this.#w.event(res, 'Warning', 'InvalidSpec', message)
      // A stale write is dropped: the change that made it stale brings another pass.
      await this.#w.writeStatus(res, status)
    }
    return done('invalid spec')
  }

  async #finalizer(p: Pass): Promise<StepOutcome> {
    const m = p.res.metadata
    if (!m.finalizers?.includes(FINALIZER)) {
      await this.d.rest.mergePatch(resourcePath(m.namespace, m.name), { metadata: { finalizers: [...(m.finalizers ?? []), FINALIZER], resourceVersion: m.resourceVersion } })
    }
    return proceed
  }

  /** The broker is checked beside the pass (TopicChecks): this step only reads the last answer. */
  #checkTopics(p: Pass): StepOutcome {
    const last = this.#topics.latest(p.res, p.spec!, p.key, p.log)
    if (last.failure) p.failures.push(last.failure)
    p.topics = last.status
    p.mayWrite = last.mayWrite
    // Until the topics are the resource's own (a conflict, or no answer from Kafka yet), look again soon.
    return last.mayWrite ? proceed : requeue(TOPIC_RECHECK_MS, 'the written topics are not confirmed as this resource\'s own')
  }

  async #opa(p: Pass): Promise<StepOutcome> {
    // The topic check asks for another pass when its answer changes.
    if (!p.mayWrite) return proceed
    const { sts, hold, deadLetters } = await reconcileOpa(this.#workloads, p.res, p.owner, p.spec!, p.log)
    p.opa = { readyReplicas: hold ? 0 : (sts.status?.readyReplicas ?? 0), ...deadLetters }
    return hold ? requeue(500, 'OpA held at zero replicas until its old instances are gone') : proceed
  }

  async #opb(p: Pass): Promise<StepOutcome> {
    if (!p.mayWrite) return proceed
    const { statuses, standbys, requeueAfterMs, failure } = await reconcileShards(this.#workloads, p.res, p.owner, p.spec!, p.log)
    // Every shard's status, a failing one's too: the pass fails after it is recorded.
    p.shards = statuses
    p.standbys = standbys
    if (failure) throw failure
    return requeueAfterMs !== undefined ? requeue(requeueAfterMs, 'a shard is changing') : proceed
  }

  async #status(p: Pass): Promise<StepOutcome> {
    const { res, spec } = p
    const status = computeStatus({
      generation: res.metadata.generation ?? 0,
      nowMs: this.#now(),
      prev: res.status,
      shards: p.shards ?? res.status?.shards ?? [],
      standbys: p.standbys ?? res.status?.standbys ?? [],
      opa: { replicas: spec!.opa.replicas, readyReplicas: p.opa?.readyReplicas ?? 0, ...(p.opa?.observedAt ? { deadLettersPerSecond: p.opa.deadLettersPerSecond ?? 0, observedAt: p.opa.observedAt } : {}) },
      topics: p.topics,
      failures: p.failures,
    })
    if (!sameJson(status, res.status) && (await this.#w.writeStatus(res, status)) === 'stale') {
      // Changed since this pass read it: compute the status again from what it is now.
      return requeue(0, 'the resource changed during the pass')
    }
    const resource = { resource: p.key }
    this.d.metrics.shardsReady.set(resource, status.readyShards)
    this.d.metrics.shardsDesired.set(resource, spec!.opb.shards)
    this.d.metrics.shardsStalled.set(resource, (status.shards ?? []).filter((s) => s.stalledSince).length)
    this.d.metrics.topicsNotReady.set(resource, (status.topics ?? []).filter((t) => !t.ready || t.conflict).length)
    this.d.metrics.paused.set(resource, 0)
    return proceed
  }
}

/** A pass in which some steps failed: the work queue retries it with backoff. */
export class ReconcileStepsFailed extends Error {
  constructor(readonly failures: StepFailure[]) {
    super(failures.map((f) => `${f.step}: ${f.message}`).join('; '))
    this.name = 'ReconcileStepsFailed'
  }
}
