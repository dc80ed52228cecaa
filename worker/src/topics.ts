import { pipelineTopics as topicsOf } from '@ridepulse/contracts'
import type { WorkerConfig } from './config.js'
import type { TopicSpec } from '@ridepulse/kafka'

/** Every topic of the pipeline, as its configuration names them, with the settings they are created with. */
export function pipelineTopics(cfg: Pick<WorkerConfig, 'TOPIC_ORDERS' | 'TOPIC_ENRICHED' | 'TOPIC_DLQ' | 'TOPIC_OUTPUT' | 'TOPIC_LATE' | 'TOPIC_CHANGELOG' | 'TOPIC_SNAPSHOTS' | 'ORDERS_PARTITIONS' | 'SHARDS'>): TopicSpec[] {
  const names = {
    orders: cfg.TOPIC_ORDERS,
    enriched: cfg.TOPIC_ENRICHED,
    output: cfg.TOPIC_OUTPUT,
    late: cfg.TOPIC_LATE,
    dlq: cfg.TOPIC_DLQ,
    changelog: cfg.TOPIC_CHANGELOG,
    snapshots: cfg.TOPIC_SNAPSHOTS,
  }
  return topicsOf(names, { ordersPartitions: cfg.ORDERS_PARTITIONS, shards: cfg.SHARDS }).map((t) => ({ name: t.name, partitions: t.partitions, config: { ...t.configs } }))
}
