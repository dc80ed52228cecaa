import type { PipelineSpec } from './spec.js'
import type { TopicStatus } from './status.js'

export interface DesiredTopic {
  name: string
  partitions: number
  compacted: boolean
  /** Partitions may be added (OpA's split of `orders` follows the count; OpB's topics are fixed by the shards). */
  growable: boolean
}

export interface ObservedTopic {
  name: string
  partitions: number
  cleanupPolicy: string
}

/** Every topic of a pipeline: OpB's topics have one partition per shard, the manifest and changelog topics are compacted. */
export function desiredTopics(spec: PipelineSpec): DesiredTopic[] {
  const t = spec.topics
  const s = spec.opb.shards
  return [
    { name: t.orders, partitions: t.ordersPartitions, compacted: false, growable: true },
    { name: t.enriched, partitions: s, compacted: false, growable: false },
    { name: t.output, partitions: s, compacted: false, growable: false },
    { name: t.late, partitions: s, compacted: false, growable: false },
    { name: t.dlq, partitions: 1, compacted: false, growable: false },
    { name: t.changelog, partitions: s, compacted: true, growable: false },
    { name: t.snapshots, partitions: s, compacted: true, growable: false },
  ]
}

export type TopicAction = { kind: 'create'; topic: DesiredTopic } | { kind: 'add-partitions'; topic: DesiredTopic; from: number }

/**
 * Compares what the broker has with what the pipeline needs. Missing topics
 * are created; `orders` may grow (OpA's split follows the count); any other
 * mismatch is reported, never "fixed" by deleting data.
 */
export function planTopics(desired: DesiredTopic[], observed: Map<string, ObservedTopic>): { actions: TopicAction[]; status: TopicStatus[] } {
  const actions: TopicAction[] = []
  const status: TopicStatus[] = []
  for (const d of desired) {
    const o = observed.get(d.name)
    if (!o) {
      actions.push({ kind: 'create', topic: d })
      status.push({ name: d.name, partitions: d.partitions, ready: true })
      continue
    }
    const problems: string[] = []
    if (o.partitions < d.partitions && d.growable) actions.push({ kind: 'add-partitions', topic: d, from: o.partitions })
    else if (o.partitions !== d.partitions) problems.push(`has ${o.partitions} partitions, the pipeline needs ${d.partitions}`)
    const compacted = o.cleanupPolicy.split(',').map((p) => p.trim()).includes('compact')
    if (d.compacted && !compacted) problems.push(`cleanup.policy is "${o.cleanupPolicy}", it must include compact`)
    status.push({ name: d.name, partitions: o.partitions, ready: problems.length === 0, ...(problems.length ? { message: problems.join('; ') } : {}) })
  }
  return { actions, status }
}
