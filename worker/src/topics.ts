import type { WorkerConfig } from './config.js'
import type { TopicSpec } from './kafka/client.js'

/** Every topic of a pipeline with its partition count and cleanup policy. */
export function pipelineTopics(cfg: Pick<WorkerConfig, 'TOPIC_ORDERS' | 'TOPIC_ENRICHED' | 'TOPIC_DLQ' | 'TOPIC_OUTPUT' | 'TOPIC_LATE' | 'TOPIC_CHANGELOG' | 'TOPIC_SNAPSHOTS' | 'ORDERS_PARTITIONS' | 'SHARDS'>): TopicSpec[] {
  return [
    { name: cfg.TOPIC_ORDERS, partitions: cfg.ORDERS_PARTITIONS },
    { name: cfg.TOPIC_ENRICHED, partitions: cfg.SHARDS },
    { name: cfg.TOPIC_DLQ, partitions: 1 },
    { name: cfg.TOPIC_OUTPUT, partitions: cfg.SHARDS },
    { name: cfg.TOPIC_LATE, partitions: cfg.SHARDS },
    { name: cfg.TOPIC_CHANGELOG, partitions: cfg.SHARDS, compacted: true },
    { name: cfg.TOPIC_SNAPSHOTS, partitions: cfg.SHARDS, compacted: true },
  ]
}
