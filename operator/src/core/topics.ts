import { pipelineTopics, type PipelineSpec, type PipelineTopic } from '@ridepulse/contracts'
import type { TopicStatus } from './status.js'

/** What the broker has of a topic. */
export interface ObservedTopic {
  name: string
  partitions: number
  cleanupPolicy: string
}

/** A topic the pipeline needs, with the settings it is created with (shared with the worker). */
export type DesiredTopic = PipelineTopic

/** Every topic of a pipeline, as its resource names them. */
export function desiredTopics(spec: PipelineSpec): DesiredTopic[] {
  return pipelineTopics(spec.topics, { ordersPartitions: spec.topics.ordersPartitions, shards: spec.opb.shards })
}

/** The topics a pipeline writes: every one but its input, which pipelines may share. */
export const writtenTopics = (spec: PipelineSpec): DesiredTopic[] => desiredTopics(spec).filter((t) => t.role !== 'orders')

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
      status.push({ role: d.role, name: d.name, partitions: d.partitions, ready: true })
      continue
    }
    const problems: string[] = []
    if (o.partitions < d.partitions && d.growable) actions.push({ kind: 'add-partitions', topic: d, from: o.partitions })
    else if (o.partitions !== d.partitions) problems.push(`has ${o.partitions} partitions, the pipeline needs ${d.partitions}`)
    const compacted = o.cleanupPolicy.split(',').map((p) => p.trim()).includes('compact')
    if (d.compacted && !compacted) problems.push(`cleanup.policy is "${o.cleanupPolicy}", it must include compact`)
    status.push({ role: d.role, name: d.name, partitions: o.partitions, ready: problems.length === 0, ...(problems.length ? { message: problems.join('; ') } : {}) })
  }
  return { actions, status }
}
