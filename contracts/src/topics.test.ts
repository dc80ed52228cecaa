import { describe, expect, it } from 'vitest'
import { DEFAULT_TOPIC_NAMES, pipelineTopics } from './topics.js'

describe('pipelineTopics', () => {
  it('gives OpB topics one partition per shard, compacts the changelog and the manifests, bounds the input\'s timestamps', () => {
    const t = pipelineTopics(DEFAULT_TOPIC_NAMES, { ordersPartitions: 6, shards: 4 })
    expect(t.map((x) => [x.role, x.name, x.partitions, x.compacted, x.growable])).toEqual([
      ['orders', 'orders', 6, false, true],
      ['enriched', 'orders.enriched', 4, false, false],
      ['output', 'orders.output', 4, false, false],
      ['late', 'orders.late', 4, false, false],
      ['dlq', 'orders.dlq', 1, false, false],
      ['changelog', 'opb-changelog', 4, true, false],
      ['snapshots', 'opb-snapshots', 4, true, false],
    ])
    for (const x of t) expect(x.configs['cleanup.policy'] === 'compact').toBe(x.compacted)
    expect(t[0]!.configs['message.timestamp.after.max.ms']).toBe('3600000')
  })
})
