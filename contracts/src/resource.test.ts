import { describe, expect, it } from 'vitest'
import { DEFAULT_IMAGE, parseResource } from './resource.js'

const base = { kafka: { bootstrapServers: ['kafka:9092'] } }

describe('parseResource', () => {
  it('fills every default from the minimum', () => {
    const r = parseResource('rides', base)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.spec).toMatchObject({
      kafka: { replicationFactor: -1 },
      topics: { orders: 'orders', ordersPartitions: 3, changelog: 'opb-changelog' },
      opa: { replicas: 1, image: DEFAULT_IMAGE },
      opb: { shards: 3, storage: { size: '1Gi', deleteClaim: false } },
      snapshots: { mode: 'incremental', intervalMs: 10_000 },
      recovery: { strategy: 'local', nodeLostTimeoutSeconds: 60 },
      commitIntervalMs: 100,
      windows: { maxFutureSkewMs: 60_000 },
      deadLetters: { maxValueBytes: 262_144 },
    })
  })

  it.each([
    ['metadata.name', 'Rides', base],
    ['spec.kafka', 'rides', {}],
    ['spec.opb.shards', 'rides', { ...base, opb: { shards: 1000 } }],
    ['spec.opb.storage.size', 'rides', { ...base, opb: { storage: { size: '1 GB' } } }],
    ['spec.opa.replicas', 'rides', { ...base, opa: { replicas: 4 } }],
    ['spec.snapshots.intervalMs', 'rides', { ...base, snapshots: { mode: 'checkpoint', intervalMs: 10_001 } }],
    ['spec.kafka.credentials.secretName', 'rides', { kafka: { ...base.kafka, credentials: { secretName: 'Not_A_Name' } } }],
    ['spec.extra', 'rides', { ...base, extra: true }],
    ['spec.windows.maxFutureSkewMs', 'rides', { ...base, windows: { maxFutureSkewMs: -1 } }],
    ['spec.deadLetters.maxValueBytes', 'rides', { ...base, deadLetters: { maxValueBytes: 2_000_000 } }],
  ])('names %s when it is wrong', (path, name, spec) => {
    const r = parseResource(name, spec)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path)
  })

  it('accepts a checkpoint interval of exactly 10 s', () => {
    expect(parseResource('rides', { ...base, snapshots: { mode: 'checkpoint', intervalMs: 10_000 } }).ok).toBe(true)
  })
})
