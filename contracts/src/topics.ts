/**
 * The topics of one pipeline and the settings they are created with. The
 * worker (when it starts before any operator) and the operator create them
 * from this one list, so whichever comes first creates the same topics.
 */

export const TOPIC_ROLES = ['orders', 'enriched', 'output', 'late', 'dlq', 'changelog', 'snapshots'] as const
export type TopicRole = (typeof TOPIC_ROLES)[number]
export type TopicNames = Record<TopicRole, string>

export const DEFAULT_TOPIC_NAMES: TopicNames = {
  orders: 'orders',
  enriched: 'orders.enriched',
  output: 'orders.output',
  late: 'orders.late',
  dlq: 'orders.dlq',
  changelog: 'opb-changelog',
  snapshots: 'opb-snapshots',
}

/** The topics a pipeline writes: every one but its input, which pipelines may share. */
export const WRITTEN_TOPIC_ROLES = ['enriched', 'output', 'late', 'dlq', 'changelog', 'snapshots'] as const satisfies readonly TopicRole[]

/**
 * The names a resource's topics take when its spec names none. The written
 * ones are `<namespace>.<name>.<default name>`, so two pipelines on one
 * Kafka (two resources in one namespace, or one name in two namespaces)
 * never write to the same topic; a namespace holds no dot, so the prefix
 * reads one way only. The input keeps its default: pipelines may read one
 * shared `orders`.
 */
export function derivedTopicNames(namespace: string, name: string): TopicNames {
  const out = { ...DEFAULT_TOPIC_NAMES }
  for (const role of WRITTEN_TOPIC_ROLES) out[role] = `${namespace}.${name}.${DEFAULT_TOPIC_NAMES[role]}`
  return out
}

/**
 * The changelog and the manifests keep the newest value per key. Segments
 * roll every 10 minutes so that compaction, which never touches the active
 * segment, keeps an empty volume's full replay short without filling a
 * partition with tiny files.
 */
export const COMPACTED_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'min.cleanable.dirty.ratio': '0.1',
  'segment.ms': '600000',
}

/**
 * The input's record timestamps are its events' ingest times (see the
 * event-time rule): the broker refuses a record stamped more than an hour
 * ahead of its own clock, the default from Kafka 4.0 and unbounded before.
 */
export const ORDERS_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'message.timestamp.after.max.ms': '3600000',
}

export interface PipelineTopic {
  role: TopicRole
  name: string
  partitions: number
  /** Compacted: its cleanup.policy must include `compact`. */
  compacted: boolean
  /** Partitions may be added (OpA's split of `orders` follows the count); OpB's topics are fixed by the shards. */
  growable: boolean
  /** Topic configs it is created with. */
  configs: Readonly<Record<string, string>>
}

/** Every topic of a pipeline: OpB's topics have one partition per shard, the dead letters one. */
export function pipelineTopics(names: TopicNames, counts: { ordersPartitions: number; shards: number }): PipelineTopic[] {
  const s = counts.shards
  const plain = (role: TopicRole, partitions: number): PipelineTopic => ({ role, name: names[role], partitions, compacted: false, growable: false, configs: {} })
  const compacted = (role: TopicRole): PipelineTopic => ({ role, name: names[role], partitions: s, compacted: true, growable: false, configs: COMPACTED_TOPIC_CONFIGS })
  return [
    { role: 'orders', name: names.orders, partitions: counts.ordersPartitions, compacted: false, growable: true, configs: ORDERS_TOPIC_CONFIGS },
    plain('enriched', s),
    plain('output', s),
    plain('late', s),
    plain('dlq', 1),
    compacted('changelog'),
    compacted('snapshots'),
  ]
}
