import type { V1Secret } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { ownerText, type PipelineSpec, type TopicStatus } from '@ridepulse/contracts'
import { explainConnectionFailure, type KafkaSettings } from '@ridepulse/kafka'
import { sameJson, type StepFailure } from '../core/status.js'
import { stepFailure, topicCheckDue } from '../core/pass.js'
import { planOwnership } from '../core/ownership.js'
import { desiredTopics, planTopics, writtenTopics } from '../core/topics.js'
import { PipelineTopics } from '../kafka/admin.js'
import { TopicOwners } from '../kafka/owners.js'
import { objectPath } from '../kube/rest.js'
import type { OperatorMetrics } from '../metrics.js'
import type { ClusterWriter, PipelineResource } from './writer.js'

interface TopicCheck {
  generation: number
  atMs: number
  running: boolean
  status?: TopicStatus[]
  failure?: StepFailure
  /** The written topics the last finished check found this resource's own (`ownedKey`), when it did. */
  owned?: string
}

/** The written topics' names, in one order: what an ownership check confirmed. */
const ownedKey = (spec: PipelineSpec): string =>
  writtenTopics(spec)
    .map((t) => t.name)
    .sort()
    .join(',')

/** What the pass reads of the broker's side. */
export interface TopicAnswer {
  status?: TopicStatus[]
  failure?: StepFailure
  /** Whether the pipeline may write its topics as the spec names them now: checked against the cluster's owner records. */
  mayWrite: boolean
}

/**
 * The broker's side of a pass, checked beside it and never in its way: a
 * shard is healed even while Kafka is unreachable. A check whose answer
 * changed asks for another pass.
 */
export class TopicChecks {
  readonly #checks = new Map<string, TopicCheck>()

  constructor(
    private readonly w: ClusterWriter,
    private readonly metrics: OperatorMetrics,
    private readonly nowMs: () => number,
    private readonly everyMs: number,
    private readonly requeue: (key: string) => void,
  ) {}

  forget(key: string): void {
    this.#checks.delete(key)
  }

  /**
   * The last answer for the resource, starting a new check when one is due.
   * The pipeline may write once a check has found its written topics its own;
   * until the first check of this operator finishes (Kafka unreachable, say),
   * a status whose topics are the same ones and hold no conflict stands for it,
   * so a running pipeline is still healed.
   */
  latest(res: PipelineResource, spec: PipelineSpec, key: string, log: Logger): TopicAnswer {
    const last = this.#start(res, spec, key, log)
    const fromStatus = () => {
      const recorded = res.status?.topics ?? []
      const have = new Set(recorded.map((t) => t.name))
      return recorded.every((t) => !t.conflict) && writtenTopics(spec).every((t) => have.has(t.name))
    }
    const mayWrite = last?.owned !== undefined ? last.owned === ownedKey(spec) : last?.status?.some((t) => t.conflict) ? false : fromStatus()
    return { ...(last?.status ? { status: last.status } : {}), ...(last?.failure ? { failure: last.failure } : {}), mayWrite }
  }

  #start(res: PipelineResource, spec: PipelineSpec, key: string, log: Logger): TopicCheck | undefined {
    const generation = res.metadata.generation ?? 0
    const last = this.#checks.get(key)
    if (topicCheckDue(last, generation, this.nowMs(), this.everyMs)) {
      const check: TopicCheck = { ...(last ?? { status: undefined }), generation, atMs: this.nowMs(), running: true }
      this.#checks.set(key, check)
      void this.#check(res, spec, log)
        .then(({ status, owned }) => {
          const changed = !sameJson(status, check.status) || check.failure || owned !== check.owned
          Object.assign(check, { running: false, status, failure: undefined, owned, atMs: this.nowMs() })
          if (changed) this.requeue(key)
        })
        .catch((e: unknown) => {
          // A certificate or a password that does not match says so in the condition, not as a network error.
          const err = explainConnectionFailure(e, spec.kafka.tls !== undefined)
          const failure = stepFailure('topics', err)
          log.warn({ err }, 'topics check failed')
          this.metrics.stepFailures.inc({ step: 'topics' })
          const changed = check.failure?.message !== failure.message
          Object.assign(check, { running: false, failure, atMs: this.nowMs() })
          if (changed) {
            void this.w.event(res, 'Warning', 'StepFailed', `topics: ${failure.message}`).catch((e: unknown) => log.warn({ err: e }, 'could not record event'))
            this.requeue(key)
          }
        })
    }
    return last
  }

  /**
   * Claims the written topics in the cluster's owner records (or finds them
   * another resource's), then creates what is missing. A conflict touches no
   * topic: the status names each topic's owner.
   */
  async #check(res: PipelineResource, spec: PipelineSpec, log: Logger): Promise<{ status: TopicStatus[]; owned?: string }> {
    const settings = await this.#settings(res, spec)
    const admin = new PipelineTopics(settings)
    try {
      const desired = desiredTopics(spec)
      const written = writtenTopics(spec)
      const me = { uid: res.metadata.uid, namespace: res.metadata.namespace, name: res.metadata.name }
      const owners = new TopicOwners(settings)
      await owners.ensure()
      const before = planOwnership(written, await owners.read(), me)
      let plan = before
      if (before.claim.length > 0) {
        await owners.claim(before.claim, me)
        // Read back: of two claims made at once, the later record wins.
        plan = planOwnership(written, await owners.read(), me)
        if (plan.claim.length > 0) throw new Error(`the owner records do not show the claim of ${plan.claim.join(', ')} yet`)
        for (const t of before.claim.filter((n) => !plan.conflicts.some((c) => c.topic === n))) log.info({ topic: t }, 'topic claimed')
        for (const a of before.adopted) await this.w.event(res, 'Normal', 'TopicAdopted', `${a.topic}: owned before by ${ownerText(a.previous)}, a resource of the same namespace and name`)
      }
      if (plan.conflicts.length > 0) {
        const observed = await admin.observe(desired)
        const conflictOf = new Map(plan.conflicts.map((c) => [c.topic, ownerText(c.owner)]))
        const status = planTopics(desired, observed).status.map((t) => {
          const owner = conflictOf.get(t.name)
          return owner ? { ...t, ready: false, message: `belongs to ${owner}`, conflict: owner } : t
        })
        if (!sameJson(status, res.status?.topics)) {
          await this.w.event(res, 'Warning', 'TopicConflict', plan.conflicts.map((c) => `${c.topic} (${c.role}) belongs to ${ownerText(c.owner)}`).join('; '))
        }
        return { status }
      }
      const plan2 = planTopics(desired, await admin.observe(desired))
      if (plan2.actions.length > 0) {
        await admin.apply(plan2.actions, spec.kafka.replicationFactor)
        for (const a of plan2.actions) await this.w.event(res, 'Normal', a.kind === 'create' ? 'TopicCreated' : 'PartitionsAdded', `${a.topic.name}: ${a.topic.partitions} partitions`)
      }
      return { status: plan2.status, owned: ownedKey(spec) }
    } finally {
      await admin.close()
    }
  }

  /**
   * Frees the written topics in the cluster's owner records as the resource
   * goes (its topics and their data stay). Bounded and never in the way of
   * the deletion: records left behind (Kafka unreachable) keep the topics
   * from other resources, and a resource created again under the same
   * namespace and name takes them back.
   */
  async release(res: PipelineResource, spec: PipelineSpec, log: Logger, timeoutMs = 10_000): Promise<void> {
    const me = { uid: res.metadata.uid, namespace: res.metadata.namespace, name: res.metadata.name }
    const work = this.#settings(res, spec).then((settings) => new TopicOwners(settings).release(writtenTopics(spec).map((t) => t.name), me))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Kafka within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      const freed = await Promise.race([work, late])
      log.info({ topics: freed }, 'topics released')
    } catch (err) {
      log.warn({ err }, 'could not release the topics in the owner records; they stay claimed')
      await this.w.event(res, 'Warning', 'TopicsNotReleased', `the owner records still name this resource: ${String(err instanceof Error ? err.message : err)}`).catch(() => undefined)
    } finally {
      clearTimeout(timer)
      work.catch(() => undefined)
    }
  }

  /**
   * How the operator reaches the resource's Kafka cluster: the way its
   * workers do, with the SASL credentials and the TLS files read from the
   * Secrets the spec names.
   */
  async #settings(res: PipelineResource, spec: PipelineSpec): Promise<KafkaSettings> {
    const { credentials: c, tls } = spec.kafka
    const read = async (secretName: string, keys: string[]): Promise<string[]> => {
      const secret = await this.w.rest.get<V1Secret>(objectPath('v1', 'secrets', res.metadata.namespace, secretName)).catch((err: unknown) => {
        throw new SecretUnusableError(`Secret ${secretName}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      })
      return keys.map((k) => {
        const v = secret.data?.[k]
        if (v === undefined) throw new SecretUnusableError(`Secret ${secretName} has no key ${k}`)
        return Buffer.from(v, 'base64').toString('utf8')
      })
    }
    const sasl = c ? await read(c.secretName, [c.usernameKey, c.passwordKey]).then(([username, password]) => ({ mechanism: c.mechanism, username: username!, password: password! })) : undefined
    const [ca] = tls?.caSecretName ? await read(tls.caSecretName, [tls.caKey]) : []
    const [cert, key] = tls?.clientSecretName ? await read(tls.clientSecretName, [tls.certKey, tls.keyKey]) : []
    return {
      brokers: spec.kafka.bootstrapServers,
      clientId: `${res.metadata.name}-operator`,
      replicationFactor: spec.kafka.replicationFactor,
      ...(sasl ? { sasl } : {}),
      ...(tls ? { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
    }
  }
}

/** A Secret the spec names is missing, unreadable, or lacks a key it names. */
class SecretUnusableError extends Error {
  readonly reason = 'SecretUnusable'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SecretUnusableError'
  }
}
