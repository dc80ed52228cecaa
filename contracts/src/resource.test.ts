import { describe, expect, it } from 'vitest'
import { DEFAULT_IMAGE, parseResource, type PipelineSpec } from './resource.js'
import { topicsInUse } from './resource-status.js'
import { WRITTEN_TOPIC_ROLES } from './topics.js'

const base = { kafka: { bootstrapServers: ['kafka:9092'] } }

describe('parseResource', () => {
  it('fills every default from the minimum', () => {
    const r = parseResource({ namespace: 'city', name: 'rides' }, base)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.spec).toMatchObject({
      kafka: { replicationFactor: -1 },
      topics: { orders: 'orders', ordersPartitions: 3, changelog: 'city.rides.opb-changelog' },
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
    ['spec.kafka.tls.clientSecretName', 'rides', { kafka: { ...base.kafka, tls: { clientSecretName: 'Client' } } }],
    ['spec.kafka.tls.verifyHostnames', 'rides', { kafka: { ...base.kafka, tls: { verifyHostnames: false } } }],
    ['spec.windows.maxFutureSkewMs', 'rides', { ...base, windows: { maxFutureSkewMs: -1 } }],
    ['spec.deadLetters.maxValueBytes', 'rides', { ...base, deadLetters: { maxValueBytes: 2_000_000 } }],
    ['spec.opb.template.container.env.0.name', 'rides', { ...base, opb: { template: { container: { env: [{ name: 'SHARD', value: '9' }] } } } }],
    ['spec.opa.template.container.env.0.valueFrom', 'rides', { ...base, opa: { template: { container: { env: [{ name: 'TZ', value: 'UTC', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] } } } }],
    ['spec.opb.template.container.env.0.valueFrom', 'rides', { ...base, opb: { template: { container: { env: [{ name: 'TZ', valueFrom: {} }] } } } }],
    ['spec.opb.template.container.envFrom.0', 'rides', { ...base, opb: { template: { container: { envFrom: [{ secretRef: { name: 'a' }, configMapRef: { name: 'b' } }] } } } }],
    ['spec.opb.template.pod.metadata.labels', 'rides', { ...base, opb: { template: { pod: { metadata: { labels: { 'app.kubernetes.io/instance': 'other' } } } } } }],
    ['spec.opa.template.pod.metadata.annotations', 'rides', { ...base, opa: { template: { pod: { metadata: { annotations: { 'ridepulse.io/spec-hash': 'x' } } } } } }],
    ['spec.opb.template.pod.tolerations.0.effect', 'rides', { ...base, opb: { template: { pod: { tolerations: [{ effect: 'Sometimes' }] } } } }],
    ['spec.opb.template.pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.0.topologyKey', 'rides', { ...base, opb: { template: { pod: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } } } } } }],
    ['spec.opb.template.pod.priorityClassName', 'rides', { ...base, opb: { template: { pod: { priorityClassName: 'High' } } } }],
  ])('names %s when it is wrong', (path, name, spec) => {
    const r = parseResource({ namespace: 'city', name }, spec)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path)
  })

  it('lets a template tune the variables no field sets, and no other', () => {
    const env = (name: string) => parseResource({ namespace: 'city', name: 'rides' }, { ...base, opb: { template: { container: { env: [{ name, value: '1' }] } } } }).ok
    expect(env('COMMIT_MAX_RECORDS')).toBe(true)
    expect(env('SHUTDOWN_TIMEOUT_MS')).toBe(true)
    expect(env('NODE_OPTIONS')).toBe(true)
    expect(env('KAFKA_BROKERS')).toBe(false)
    expect(env('HTTP_PORT')).toBe(false)
  })

  it('accepts a checkpoint interval of exactly 10 s', () => {
    expect(parseResource({ namespace: 'city', name: 'rides' }, { ...base, snapshots: { mode: 'checkpoint', intervalMs: 10_000 } }).ok).toBe(true)
  })
})

describe('topic names', () => {
  const topics = (namespace: string, name: string, spec: object = base, inUse = {}): PipelineSpec['topics'] => {
    const r = parseResource({ namespace, name }, spec, inUse)
    if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '))
    return r.spec.topics
  }

  it('derives the written topics from namespace and name; the input stays one shared name', () => {
    expect(topics('city', 'rides')).toEqual({
      orders: 'orders',
      ordersPartitions: 3,
      enriched: 'city.rides.orders.enriched',
      output: 'city.rides.orders.output',
      late: 'city.rides.orders.late',
      dlq: 'city.rides.orders.dlq',
      changelog: 'city.rides.opb-changelog',
      snapshots: 'city.rides.opb-snapshots',
    })
  })

  it('gives two resources in one namespace, and one name in two namespaces, no written topic in common', () => {
    const sets = [topics('a', 'rides'), topics('a', 'rides-2'), topics('b', 'rides')].map((t) => WRITTEN_TOPIC_ROLES.map((r) => t[r]))
    const all = sets.flat()
    expect(new Set(all).size).toBe(all.length)
  })

  it('takes a name the spec gives, and keeps a global default a running resource already uses', () => {
    expect(topics('city', 'rides', { ...base, topics: { output: 'board.counts' } }).output).toBe('board.counts')
    const running = topicsInUse({ topics: [{ name: 'orders', partitions: 3, ready: true }, { name: 'opb-changelog', partitions: 3, ready: true }, { name: 'orders.output', partitions: 3, ready: true }] })
    expect(running).toEqual({ changelog: 'opb-changelog', output: 'orders.output' })
    const t = topics('city', 'rides', base, running)
    expect([t.changelog, t.output, t.snapshots]).toEqual(['opb-changelog', 'orders.output', 'city.rides.opb-snapshots'])
    expect(topicsInUse({ topics: [{ role: 'changelog', name: 'city.rides.opb-changelog', partitions: 3, ready: true }] })).toEqual({})
  })
})
