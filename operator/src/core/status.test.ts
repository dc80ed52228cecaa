import { describe, expect, it } from 'vitest'
import type { ShardStatus } from './shards.js'
import { computeStatus, formatDuration, pausedStatus, sameJson, setCondition } from './status.js'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const shard = (n: number, o: Partial<ShardStatus> = {}): ShardStatus => ({ shard: n, pod: `p-opb-${n}`, claim: `data-p-opb-${n}`, phase: 'Running', ready: true, restarts: 0, recoveries: 0, ...o })
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions.find((c) => c.type === type)

describe('computeStatus', () => {
  it('is Running and Ready when every shard and OpA replica is ready', () => {
    const s = computeStatus({ generation: 3, nowMs: T0, shards: [shard(0), shard(1)], opa: { replicas: 1, readyReplicas: 1 }, failures: [] })
    expect(s).toMatchObject({ phase: 'Running', shardsReady: '2/2', readyShards: 2, observedGeneration: 3 })
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 3 })
    expect(cond(s, 'Degraded')?.status).toBe('False')
  })

  it('is Recovering while a shard recovers, and reports the last time to recover', () => {
    const last = { reason: 'PodDeleted' as const, detectedAt: new Date(T0 - 5000).toISOString(), readyAt: new Date(T0 - 4100).toISOString(), timeToRecoverMs: 900 }
    const s = computeStatus({
      generation: 1, nowMs: T0, opa: { replicas: 1, readyReplicas: 1 }, failures: [],
      shards: [shard(0, { recoveries: 1, lastRecovery: last }), shard(1, { phase: 'Recovering', ready: false, pendingRecovery: { reason: 'NodeLost', detectedAt: new Date(T0).toISOString() } })],
    })
    expect(s).toMatchObject({ phase: 'Recovering', shardsReady: '1/2', recoveries: 1, lastTimeToRecover: '900ms' })
    expect(cond(s, 'Recovering')).toMatchObject({ status: 'True', message: 'shard 1 (NodeLost)' })
  })

  it('is Degraded, naming what the pod says, when a shard passed its deadline; before that the recovery says it', () => {
    const pendingRecovery = { reason: 'ContainerRestarted' as const, detectedAt: new Date(T0 - 400_000).toISOString() }
    const problem = 'container opb: CrashLoopBackOff (back-off 5m0s restarting failed container); last exit code 1 (Error): cannot use the Kafka cluster: the broker refused the SASL credentials'
    const recovering = shard(1, { phase: 'Recovering', ready: false, pendingRecovery, problem })
    const before = computeStatus({ generation: 1, nowMs: T0, opa: { replicas: 1, readyReplicas: 1 }, failures: [], shards: [shard(0), recovering] })
    expect(before.phase).toBe('Recovering')
    expect(cond(before, 'Recovering')?.message).toBe(`shard 1 (ContainerRestarted: ${problem})`)
    const s = computeStatus({ generation: 1, nowMs: T0, opa: { replicas: 1, readyReplicas: 1 }, failures: [], shards: [shard(0), { ...recovering, stalledSince: new Date(T0 - 100_000).toISOString() }] })
    expect(s.phase).toBe('Degraded')
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'ShardStalled' })
    expect(cond(s, 'Degraded')?.message).toBe(`shard 1 not ready past its deadline (since 2025-12-31T23:58:20.000Z, recovering from ContainerRestarted): ${problem}`)
  })

  it('turns a failed step into Degraded with the error class as reason', () => {
    const s = computeStatus({ generation: 1, nowMs: T0, shards: [shard(0)], opa: { replicas: 1, readyReplicas: 1 }, failures: [{ step: 'topics', reason: 'NetworkError', message: 'connect ECONNREFUSED' }] })
    expect(s.phase).toBe('Degraded')
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'NetworkError', message: 'topics: connect ECONNREFUSED' })
    expect(cond(s, 'Ready')?.status).toBe('False')
  })

  it('names the owner of each topic another resource owns in TopicConflict and Degraded', () => {
    const topics = [
      { role: 'orders' as const, name: 'orders', partitions: 3, ready: true },
      { role: 'changelog' as const, name: 'cl', partitions: 3, ready: false, message: 'belongs to harbor/rides (uid u-2)', conflict: 'harbor/rides (uid u-2)' },
    ]
    const s = computeStatus({ generation: 1, nowMs: T0, shards: [], opa: { replicas: 1, readyReplicas: 0 }, topics, failures: [] })
    expect(s.phase).toBe('Degraded')
    expect(cond(s, 'TopicConflict')).toMatchObject({ status: 'True', reason: 'TopicOwnedByAnother', message: 'cl belongs to harbor/rides (uid u-2): no pods until spec.topics names other topics' })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'TopicConflict' })
    const fine = computeStatus({ generation: 1, nowMs: T0, shards: [shard(0)], opa: { replicas: 1, readyReplicas: 1 }, topics: [topics[0]!], failures: [] })
    expect(cond(fine, 'TopicConflict')?.status).toBe('False')
  })

  it('keeps a condition\'s transition time while its status holds', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'r', message: 'm', observedGeneration: 1 }, T0)
    expect(setCondition([first], { type: 'Ready', status: 'True', reason: 'r2', message: 'm2', observedGeneration: 2 }, T0 + 5000).lastTransitionTime).toBe(first.lastTransitionTime)
    expect(setCondition([first], { type: 'Ready', status: 'False', reason: 'r', message: 'm', observedGeneration: 2 }, T0 + 5000).lastTransitionTime).toBe(new Date(T0 + 5000).toISOString())
  })

  it.each([[850, '850ms'], [9999, '9999ms'], [12_345, '12.3s']])('formats %i ms as %s', (ms, text) => expect(formatDuration(ms)).toBe(text))

  it('compares JSON regardless of key order and undefined fields', () => {
    expect(sameJson({ a: 1, b: { c: [1, 2] }, d: undefined }, { b: { c: [1, 2] }, a: 1 })).toBe(true)
    expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false)
  })
})

describe('pausedStatus', () => {
  it('keeps what was seen, says Paused with its reason, and the next computed status drops the condition', () => {
    const running = computeStatus({ generation: 2, nowMs: T0, shards: [shard(0)], opa: { replicas: 1, readyReplicas: 1 }, failures: [] })
    const paused = pausedStatus(3, T0 + 1000, running)
    expect(paused).toMatchObject({ phase: 'Paused', shardsReady: '1/1', observedGeneration: 2 })
    expect(cond(paused, 'ReconciliationPaused')).toMatchObject({ status: 'True', reason: 'PausedByAnnotation', lastTransitionTime: new Date(T0 + 1000).toISOString() })
    expect(cond(paused, 'Ready')).toEqual(cond(running, 'Ready'))
    // Paused again later: the same status, so nothing is written.
    expect(sameJson(pausedStatus(3, T0 + 9000, paused), paused)).toBe(true)
    const resumed = computeStatus({ generation: 3, nowMs: T0 + 20_000, prev: paused, shards: [shard(0)], opa: { replicas: 1, readyReplicas: 1 }, failures: [] })
    expect(cond(resumed, 'ReconciliationPaused')).toBeUndefined()
    expect(resumed.phase).toBe('Running')
  })
})
