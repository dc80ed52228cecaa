import type { V1Secret } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import type { PipelineSpec, TopicStatus } from '@ridepulse/contracts'
import { sameJson, type StepFailure } from '../core/status.js'
import { stepFailure, topicCheckDue } from '../core/pass.js'
import { desiredTopics, planTopics } from '../core/topics.js'
import { PipelineTopics } from '../kafka/admin.js'
import { objectPath } from '../kube/rest.js'
import type { OperatorMetrics } from '../metrics.js'
import type { ClusterWriter, PipelineResource } from './writer.js'

interface TopicCheck {
  generation: number
  atMs: number
  running: boolean
  status?: TopicStatus[]
  failure?: StepFailure
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

  /** The last answer for the resource, starting a new check when one is due. */
  latest(res: PipelineResource, spec: PipelineSpec, key: string, log: Logger): { status?: TopicStatus[]; failure?: StepFailure } | undefined {
    const generation = res.metadata.generation ?? 0
    const last = this.#checks.get(key)
    if (topicCheckDue(last, generation, this.nowMs(), this.everyMs)) {
      const check: TopicCheck = { ...(last ?? { status: undefined }), generation, atMs: this.nowMs(), running: true }
      this.#checks.set(key, check)
      void this.#check(res, spec)
        .then((status) => {
          const changed = !sameJson(status, check.status) || check.failure
          Object.assign(check, { running: false, status, failure: undefined, atMs: this.nowMs() })
          if (changed) this.requeue(key)
        })
        .catch((err: unknown) => {
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

  async #check(res: PipelineResource, spec: PipelineSpec): Promise<TopicStatus[]> {
    const sasl = await this.#sasl(res, spec)
    const admin = new PipelineTopics({ brokers: spec.kafka.bootstrapServers, clientId: `${res.metadata.name}-operator`, ...(sasl ? { sasl } : {}) })
    try {
      const desired = desiredTopics(spec)
      const plan = planTopics(desired, await admin.observe(desired))
      if (plan.actions.length > 0) {
        await admin.apply(plan.actions, spec.kafka.replicationFactor)
        for (const a of plan.actions) await this.w.event(res, 'Normal', a.kind === 'create' ? 'TopicCreated' : 'PartitionsAdded', `${a.topic.name}: ${a.topic.partitions} partitions`)
      }
      return plan.status
    } finally {
      await admin.close()
    }
  }

  async #sasl(res: PipelineResource, spec: PipelineSpec) {
    const c = spec.kafka.credentials
    if (!c) return undefined
    const secret = await this.w.rest.get<V1Secret>(objectPath('v1', 'secrets', res.metadata.namespace, c.secretName))
    const read = (k: string) => {
      const v = secret.data?.[k]
      if (v === undefined) throw new Error(`secret ${c.secretName} has no key ${k}`)
      return Buffer.from(v, 'base64').toString('utf8')
    }
    return { mechanism: c.mechanism, username: read(c.usernameKey), password: read(c.passwordKey) }
  }
}
