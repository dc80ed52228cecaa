import { describe, expect, it } from 'vitest'
import { parseResource, type PipelineSpec } from '@ridepulse/contracts'
import { desiredTopics, planTopics, type ObservedTopic } from './topics.js'

const spec = (() => {
  const r = parseResource({ namespace: 'city', name: 'rides' }, { kafka: { bootstrapServers: ['k:9092'] }, opb: { shards: 4 }, topics: { ordersPartitions: 6 } })
  if (!r.ok) throw new Error('bad fixture')
  return r.spec as PipelineSpec
})()
const observed = (list: [string, number, string][]) => new Map<string, ObservedTopic>(list.map(([name, partitions, cleanupPolicy]) => [name, { name, partitions, cleanupPolicy }]))

describe('topics', () => {
  it('gives OpB topics one partition per shard and compacts the changelog and manifests', () => {
    expect(desiredTopics(spec).map((t) => [t.name, t.partitions, t.compacted])).toEqual([
      ['orders', 6, false], ['city.rides.orders.enriched', 4, false], ['city.rides.orders.output', 4, false], ['city.rides.orders.late', 4, false], ['city.rides.orders.dlq', 1, false], ['city.rides.opb-changelog', 4, true], ['city.rides.opb-snapshots', 4, true],
    ])
  })

  it('creates what is missing', () => {
    const p = planTopics(desiredTopics(spec), observed([['orders', 6, 'delete']]))
    expect(p.actions.map((a) => a.kind === 'create' && a.topic.name)).toEqual(['city.rides.orders.enriched', 'city.rides.orders.output', 'city.rides.orders.late', 'city.rides.orders.dlq', 'city.rides.opb-changelog', 'city.rides.opb-snapshots'])
    expect(p.status.every((s) => s.ready)).toBe(true)
  })

  it.each([
    ['city.rides.orders.enriched', 3, 'delete', 'has 3 partitions, the pipeline needs 4'],
    ['city.rides.opb-changelog', 4, 'delete', 'cleanup.policy is "delete", it must include compact'],
  ])('reports %s with %i partitions and policy %s as a mismatch, changing nothing', (name, partitions, policy, message) => {
    const all = desiredTopics(spec).map((t) => [t.name, t.partitions, t.compacted ? 'compact' : 'delete'] as [string, number, string])
    const p = planTopics(desiredTopics(spec), observed(all.map((t) => (t[0] === name ? [name, partitions, policy] : t))))
    expect(p.actions).toEqual([])
    expect(p.status.find((s) => s.name === name)).toEqual({ role: expect.any(String), name, partitions, ready: false, message })
    expect(p.status.filter((s) => !s.ready)).toHaveLength(1)
  })

  it('grows orders, never shrinks it', () => {
    const all = desiredTopics(spec).map((t) => [t.name, t.partitions, t.compacted ? 'compact,delete' : 'delete'] as [string, number, string])
    const grow = planTopics(desiredTopics(spec), observed(all.map((t) => (t[0] === 'orders' ? ['orders', 3, 'delete'] : t))))
    expect(grow.actions).toEqual([{ kind: 'add-partitions', topic: expect.objectContaining({ name: 'orders', partitions: 6 }), from: 3 }])
    const shrink = planTopics(desiredTopics(spec), observed(all.map((t) => (t[0] === 'orders' ? ['orders', 8, 'delete'] : t))))
    expect(shrink.actions).toEqual([])
    expect(shrink.status[0]).toMatchObject({ ready: false })
  })
})
