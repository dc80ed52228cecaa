import { describe, expect, it } from 'vitest'
import type { ShardStatus } from '@ridepulse/contracts'
import { done, nextPass, planGlobalRestart, proceed, requeue, shardsToRoll, shardsRequeue, stepFailure, topicCheckDue, withWorkerReport, withWorkerView } from './pass.js'
import type { ObservedPod, ShardPlan } from './shards.js'

const pod = (o: Partial<ObservedPod> = {}): ObservedPod => ({ name: 'p', uid: 'u', phase: 'Running', ready: true, createdAtMs: 0, restarts: 0, started: true, specHash: 'h1', ...o })
const shard = (s: number, o: Partial<ShardStatus> = {}): ShardStatus => ({ shard: s, pod: `p-${s}`, claim: `c-${s}`, phase: 'Running', ready: true, restarts: 0, recoveries: 0, ...o })
const plan = (s: number, o: Partial<ShardPlan> = {}): ShardPlan => ({ actions: [], status: shard(s), events: [], ...o })

describe('a pass', () => {
  it.each([
    ['nothing asked', [proceed, proceed], { afterMs: 60_000, reason: 'periodic resync' }],
    ['the soonest requeue wins', [requeue(500, 'a'), proceed, requeue(200, 'b')], { afterMs: 200, reason: 'b' }],
    ['a later requeue than the resync is ignored', [requeue(90_000, 'late')], { afterMs: 60_000, reason: 'periodic resync' }],
    ['done says nothing of the next pass', [done('deleting')], { afterMs: 60_000, reason: 'periodic resync' }],
  ])('comes back after the soonest requeue: %s', (_, outcomes, next) => {
    expect(nextPass(outcomes, 60_000)).toEqual(next)
  })

  it('names a failed step by its error class and message', () => {
    class TopicMissingError extends Error {
      override name = 'TopicMissingError'
    }
    expect(stepFailure('topics', new TopicMissingError('orders'))).toEqual({ step: 'topics', reason: 'TopicMissingError', message: 'orders' })
    expect(stepFailure('opb', 'plain')).toEqual({ step: 'opb', reason: 'Error', message: 'plain' })
  })

  it('names the cause of a failure, not the class that carried it', () => {
    // As the API server answers a write the operator's role does not allow, and as Node fails a connection.
    const forbidden = Object.assign(new Error('pods is forbidden'), { name: 'ApiError', reason: 'Forbidden', code: 403 })
    expect(stepFailure('opb', forbidden)).toEqual({ step: 'opb', reason: 'Forbidden', message: 'pods is forbidden' })
    const refused = new Error('topics check failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:9092'), { code: 'ECONNREFUSED' }) })
    expect(stepFailure('topics', refused).reason).toBe('ECONNREFUSED')
    expect(stepFailure('topics', Object.assign(new Error('x'), { code: 'PLT_KFK_NETWORK' })).reason).toBe('PLT_KFK_NETWORK')
    expect(stepFailure('opb', Object.assign(new Error('x'), { reason: 'too many requests!' })).reason).toBe('toomanyrequests')
  })
})

describe('shardsToRoll', () => {
  it.each([
    ['every shard ready and current', [pod(), pod()], [], []],
    ['the first stale shard', [pod(), pod({ specHash: 'old' }), pod({ specHash: 'old' })], [], [1]],
    ['not while a shard is not ready', [pod({ specHash: 'old' }), pod({ ready: false })], [], []],
    ['not while a pod is missing', [pod({ specHash: 'old' }), undefined], [], []],
    ['not while a pod is being deleted', [pod({ specHash: 'old' }), pod({ deletionRequestedAtMs: 5 })], [], []],
    ['not while another shard rolls', [pod({ specHash: 'old' }), pod()], [shard(1, { phase: 'Rolling' })], []],
  ] as [string, (ObservedPod | undefined)[], ShardStatus[], number[]][])('rolls ready shards one at a time: %s', (_, observed, prev, expected) => {
    expect([...shardsToRoll(observed, prev, 'h1')]).toEqual(expected)
  })

  it.each([
    ['a crash-looping pod on the old template, the others ready', [pod(), pod({ specHash: 'bad', ready: false, restarts: 4 }), pod()], [], [1]],
    ['every pod the bad image broke, at once', [pod({ specHash: 'bad', ready: false }), pod({ specHash: 'bad', ready: false }), pod({ specHash: 'bad', ready: false })], [], [0, 1, 2]],
    ['one while a ready stale pod rolls', [pod({ specHash: 'old' }), pod({ specHash: 'bad', ready: false })], [shard(0, { phase: 'Rolling' })], [1]],
  ] as [string, (ObservedPod | undefined)[], ShardStatus[], number[]][])('replaces stale pods that are not ready first, without waiting: %s', (_, observed, prev, expected) => {
    expect([...shardsToRoll(observed, prev, 'h1')]).toEqual(expected)
  })

  it('leaves a not-ready pod on the current template alone (it is recovering, or starting)', () => {
    expect([...shardsToRoll([pod({ ready: false }), pod({ specHash: 'old' })], [], 'h1')]).toEqual([])
  })
})

describe('planGlobalRestart', () => {
  it('restarts nothing under the local strategy or without a failure', () => {
    expect(planGlobalRestart('local', [plan(0, { failed: 'PodDeleted' }), plan(1)], 0)).toBeUndefined()
    expect(planGlobalRestart('global', [plan(0), plan(1)], 0)).toBeUndefined()
  })

  it('marks every other shard as recovering from the restart, keeping one already recovering', () => {
    const already = { reason: 'PodFailed' as const, detectedAt: '2026-01-01T00:00:00.000Z' }
    const r = planGlobalRestart('global', [plan(0), plan(1, { failed: 'PodDeleted' }), plan(2, { status: shard(2, { pendingRecovery: already }) })], Date.parse('2026-01-02T00:00:00Z'))
    expect(r?.failed).toBe(1)
    expect(r?.statuses.map((s) => [s.phase, s.pendingRecovery?.reason])).toEqual([['Recovering', 'PipelineRestart'], ['Running', undefined], ['Running', 'PodFailed']])
  })

  it('asks again at the soonest shard requeue', () => {
    expect(shardsRequeue([plan(0), plan(1, { requeueAfterMs: 300 }), plan(2, { requeueAfterMs: 100 })])).toBe(100)
    expect(shardsRequeue([plan(0)])).toBeUndefined()
  })
})

describe('topicCheckDue', () => {
  it.each([
    ['never checked', undefined, 1, 0, true],
    ['checking now', { generation: 1, atMs: 0, running: true }, 2, 100_000, false],
    ['a new generation', { generation: 1, atMs: 1000, running: false }, 2, 1001, true],
    ['checked recently, all well', { generation: 1, atMs: 1000, running: false, status: [{ name: 'o', partitions: 1, ready: true }] }, 1, 30_000, false],
    ['the period elapsed', { generation: 1, atMs: 0, running: false }, 1, 60_000, true],
    ['a topic not ready: again after 5 s', { generation: 1, atMs: 0, running: false, status: [{ name: 'o', partitions: 1, ready: false }] }, 1, 5_000, true],
    ['a failed check: again after 5 s', { generation: 1, atMs: 0, running: false, failure: { step: 'topics', reason: 'E', message: 'm' } }, 1, 5_000, true],
  ] as const)('%s', (_, last, generation, now, due) => {
    expect(topicCheckDue(last, generation, now, 60_000)).toBe(due)
  })
})

describe('withWorkerReport', () => {
  const r = { reason: 'PodDeleted' as const, detectedAt: 'x' }
  it.each([
    ['a snapshot restored', { ok: true as const, lastRecovery: { snapshot: { snapshotId: 's1', kind: 'full' }, replayedRecords: 4, replayedBytes: 40, timeToRecoverMs: 300 } }, { snapshotId: 's1', snapshotKind: 'full', replayedRecords: 4, replayedBytes: 40, workerTimeToRecoverMs: 300 }],
    ['no snapshot', { ok: true as const, lastRecovery: { snapshot: null, replayedRecords: 9, replayedBytes: 90, timeToRecoverMs: 500 } }, { snapshotKind: 'none', replayedRecords: 9 }],
    ['no recovery reported', { ok: true as const, lastRecovery: null }, { statusError: 'the worker reports no recovery' }],
    ['no answer', { ok: false as const, error: 'ECONNREFUSED' }, { statusError: 'ECONNREFUSED' }],
  ])('adds what the worker says of its recovery: %s', (_, report, expected) => {
    expect(withWorkerReport(r, report)).toMatchObject({ ...r, ...expected })
  })
})

describe('withWorkerView', () => {
  const T = Date.parse('2026-01-01T00:00:00Z')
  const running = { shard: 0, pod: 'p-opb-0-b', podUid: 'u2', claim: 'c', phase: 'Running' as const, ready: true, restarts: 0, recoveries: 0, slot: 1 }
  const lag = { records: 0, inputSeconds: 0, watermarkSeconds: 1, sinceCommitSeconds: 0.1, lateEventsPerSecond: 0 }

  it('reads a standby\'s role and lag, then an owner\'s; keeps them between reads of the same pod only', () => {
    const sb = withWorkerView(running, undefined, false, { phase: 'standby', standby: { lagRecords: 12, lagMs: 40.6 }, shardLag: lag, promotions: 0, lastRecovery: null }, T)
    expect(sb).toMatchObject({ role: 'standby', standbyLagRecords: 12, standbyLagMs: 41 })
    expect(sb.lag).toBeUndefined()
    expect(withWorkerView(running, sb, true, undefined, T + 1000)).toMatchObject({ role: 'standby', standbyLagRecords: 12, standbyLagMs: 41 })
    expect(withWorkerView(running, sb, false, undefined, T + 1000).role).toBeUndefined()
    const owner = withWorkerView(running, sb, true, { phase: 'running', shardLag: lag, standby: null, promotions: 0, lastRecovery: null }, T + 2000)
    expect(owner).toMatchObject({ role: 'owner', lag: { ...lag, observedAt: new Date(T + 2000).toISOString() } })
    expect(owner.standbyLagRecords).toBeUndefined()
    expect(owner.standbyLagMs).toBeUndefined()
  })

  it('counts each takeover once, by its time, across the pods of the unit', () => {
    const took = { phase: 'running', shardLag: lag, promotions: 1, lastRecovery: { readyAt: T, promotion: { reason: 'connection-closed' }, timeToFirstCommitMs: 180 } }
    const once = withWorkerView(running, undefined, false, took, T + 500)
    expect(once).toMatchObject({ promotions: 1, lastPromotion: { at: new Date(T).toISOString(), reason: 'connection-closed', timeToFirstCommitMs: 180 } })
    expect(withWorkerView(running, once, true, took, T + 1500).promotions).toBe(1)
    // The pod replaced (its worker reports nothing yet): the count stays with the unit.
    expect(withWorkerView({ ...running, phase: 'Recovering', ready: false }, once, false, undefined, T + 2000)).toMatchObject({ promotions: 1 })
    const again = withWorkerView(running, once, false, { ...took, lastRecovery: { ...took.lastRecovery, readyAt: T + 60_000, promotion: { reason: 'silent' } } }, T + 61_000)
    expect(again).toMatchObject({ promotions: 2, lastPromotion: { reason: 'silent' } })
  })

  it('brings in takeovers by owners gone between two reads from the counts by slot that owners carry on', () => {
    // `running` is slot 1.
    const took = { phase: 'running', shardLag: lag, promotions: 1, slotTakeovers: [0, 1], lastRecovery: { readyAt: T, promotion: { reason: 'connection-closed' }, timeToFirstCommitMs: 180 } }
    const once = withWorkerView(running, undefined, false, took, T + 500)
    expect(once.promotions).toBe(1)
    // Slot 1's pod took over again and died before it was read; slot 0's owner now carries that on.
    const standingBy = { phase: 'standby', standby: { lagRecords: 0 }, promotions: 0, slotTakeovers: [1, 2], lastRecovery: null }
    expect(withWorkerView(running, once, false, standingBy, T + 10_000)).toMatchObject({ promotions: 2, lastPromotion: { at: new Date(T).toISOString() } })
    // Its own takeover read in time, and one before it missed.
    const later = { ...took, slotTakeovers: [1, 3], lastRecovery: { ...took.lastRecovery, readyAt: T + 9_000 } }
    expect(withWorkerView(running, once, false, later, T + 10_000)).toMatchObject({ promotions: 3, lastPromotion: { at: new Date(T + 9_000).toISOString() } })
    // Slot 0's counts are not slot 1's, and a smaller count never lowers the unit's.
    expect(withWorkerView(running, once, false, { ...standingBy, slotTakeovers: [7, 0] }, T + 10_000).promotions).toBe(1)
    expect(withWorkerView(running, { ...once, promotions: 5 }, false, standingBy, T + 10_000).promotions).toBe(5)
  })
})
