import { describe, expect, it } from 'vitest'
import { MAX_NUDGES, NUDGE_AFTER_MS, planShard, type ObservedPod, type ShardInput, type ShardStatus } from './shards.js'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const pod = (o: Partial<ObservedPod> = {}): ObservedPod => ({ name: 'p-opb-1', uid: 'u1', phase: 'Running', ready: true, readySinceMs: T0 - 60_000, createdAtMs: T0 - 120_000, restarts: 0, specHash: 'h1', started: true, ...o })
const running: ShardStatus = { shard: 1, pod: 'p-opb-1', podUid: 'u1', claim: 'data-p-opb-1', phase: 'Running', ready: true, restarts: 0, recoveries: 0, specHash: 'h1' }
const input = (o: Partial<ShardInput>): ShardInput => ({
  shard: 1, podName: 'p-opb-1', claimName: 'data-p-opb-1', claimExists: true, desiredHash: 'h1', mayRoll: false, nodeLostTimeoutMs: 60_000, nowMs: T0, prev: running, pod: pod(), ...o,
})

describe('planShard', () => {
  describe('a pod on an older template that is not ready (a bad image, then its revert)', () => {
    const pending = { reason: 'ContainerRestarted' as const, detectedAt: new Date(T0 - 30_000).toISOString(), podRecreatedAt: new Date(T0 - 30_000).toISOString() }
    const crashing = pod({ specHash: 'bad', ready: false, readySinceMs: undefined, restarts: 4, problem: 'container opb: CrashLoopBackOff (back-off 40s restarting failed container)' })
    const prev: ShardStatus = { ...running, specHash: 'bad', phase: 'Recovering', ready: false, restarts: 4, pendingRecovery: pending }

    it('is replaced when the shard may roll, the recovery it is in carried on to the next pod', () => {
      const p = planShard(input({ prev, pod: crashing, mayRoll: true }))
      expect(p.actions).toEqual([{ kind: 'delete-pod', uid: 'u1', reason: 'spec changed' }])
      expect(p.events.map((e) => e.message)).toEqual(['shard 1: pod p-opb-1 replaced for a spec change (it was not ready: container opb: CrashLoopBackOff (back-off 40s restarting failed container))'])
      expect(p.status).toMatchObject({ phase: 'Recovering', pendingRecovery: pending, problem: crashing.problem })
      // Its replacement, gone and recreated: still the same recovery, not a new failure.
      const next = planShard(input({ prev: p.status, pod: undefined, nowMs: T0 + 1000 }))
      expect(next.failed).toBeUndefined()
      expect(next.status.pendingRecovery?.detectedAt).toBe(pending.detectedAt)
    })
  })

  describe('the recovery deadline', () => {
    const deadlineMs = 300_000
    const pending = { reason: 'PodFailed' as const, detectedAt: new Date(T0).toISOString(), podRecreatedAt: new Date(T0).toISOString() }
    const prev: ShardStatus = { ...running, podUid: 'u2', phase: 'Recovering', ready: false, pendingRecovery: pending }
    const stuck = pod({ uid: 'u2', phase: 'Pending', ready: false, readySinceMs: undefined, started: false, createdAtMs: T0, problem: 'container opb: ImagePullBackOff (Back-off pulling image "ridepulse/worker:typo")' })

    it('is silent before, then says once, by a Warning event and in the status, what the pod says', () => {
      expect(planShard(input({ prev, pod: stuck, deadlineMs, nowMs: T0 + deadlineMs - 1 })).status.stalledSince).toBeUndefined()
      const late = planShard(input({ prev, pod: stuck, deadlineMs, nowMs: T0 + deadlineMs }))
      expect(late.status).toMatchObject({ phase: 'Recovering', stalledSince: new Date(T0 + deadlineMs).toISOString(), problem: stuck.problem })
      expect(late.events).toEqual([{ type: 'Warning', reason: 'ShardStalled', message: `shard 1: not ready 300 s after recovering from PodFailed: ${stuck.problem}` }])
      const later = planShard(input({ prev: late.status, pod: stuck, deadlineMs, nowMs: T0 + deadlineMs + 60_000 }))
      expect(later.events).toEqual([])
      expect(later.status.stalledSince).toBe(late.status.stalledSince)
      // Ready at last: the recovery completes and the stall is over.
      const ready = planShard(input({ prev: later.status, pod: { ...stuck, phase: 'Running', ready: true, readySinceMs: T0 + 400_000, started: true, problem: undefined }, deadlineMs, nowMs: T0 + 400_500 }))
      expect(ready.status.stalledSince).toBeUndefined()
      expect(ready.status.problem).toBeUndefined()
      expect(ready.recovered?.reason).toBe('PodFailed')
    })

    it('counts for a shard that never started, from its pod\'s creation', () => {
      const first = planShard(input({ prev: { ...running, podUid: 'u2', phase: 'Starting', ready: false }, pod: stuck, deadlineMs, nowMs: T0 + deadlineMs }))
      expect(first.events.map((e) => e.message)).toEqual([`shard 1: not ready 300 s after starting: ${stuck.problem}`])
    })
  })

  it('moves an evicted shard as planned: no failure, a Normal event, counted as a move and not as a recovery', () => {
    const evicted = pod({ ready: false, readySinceMs: undefined, evicted: true, deletionRequestedAtMs: T0 - 1000, deletionGraceSeconds: 30 })
    const p = planShard(input({ pod: evicted }))
    expect(p.failed).toBeUndefined()
    expect(p.status.pendingRecovery).toEqual({ reason: 'Evicted', detectedAt: new Date(T0 - 1000).toISOString(), planned: true })
    expect(p.events).toEqual([{ type: 'Normal', reason: 'ShardMoving', message: 'shard 1: pod p-opb-1 evicted (a drain or an eviction); it restarts on its claim' }])
    const gone = planShard(input({ prev: p.status, pod: undefined, nowMs: T0 + 2000 }))
    expect(gone.failed).toBeUndefined()
    expect(gone.actions).toEqual([{ kind: 'create-pod' }])
    const back = planShard(input({ prev: gone.status, pod: pod({ uid: 'u9', readySinceMs: T0 + 3000, createdAtMs: T0 + 2000 }), nowMs: T0 + 3500 }))
    expect(back.status).toMatchObject({ recoveries: 0, plannedMoves: 1, lastRecovery: { reason: 'Evicted', planned: true, timeToRecoverMs: 4500 } })
    expect(back.events.map((e) => e.reason)).toEqual(['ShardMoved'])
    // A deletion that is no eviction stays a failure.
    expect(planShard(input({ pod: { ...evicted, evicted: undefined } })).failed).toBe('PodDeleted')
  })

  it('creates the claim and the pod of a new shard, without calling it a recovery', () => {
    const p = planShard(input({ prev: undefined, pod: undefined, claimExists: false }))
    expect(p.actions).toEqual([{ kind: 'apply-claim' }, { kind: 'create-pod' }])
    expect(p.status).toMatchObject({ phase: 'Creating', recoveries: 0 })
    expect(p.status.pendingRecovery).toBeUndefined()
    expect(p.failed).toBeUndefined()
  })

  it('leaves a ready, current shard alone', () => {
    const p = planShard(input({}))
    expect(p.actions).toEqual([])
    expect(p.events).toEqual([])
    expect(p.status).toMatchObject({ phase: 'Running', ready: true })
    expect(p.requeueAfterMs).toBeUndefined()
  })

  it('recreates a deleted pod on the same claim and starts a recovery', () => {
    const p = planShard(input({ pod: undefined }))
    expect(p.actions).toEqual([{ kind: 'create-pod' }])
    expect(p.failed).toBe('PodDeleted')
    expect(p.status.pendingRecovery).toEqual({ reason: 'PodDeleted', detectedAt: new Date(T0).toISOString(), podRecreatedAt: new Date(T0).toISOString() })
    expect(p.events.map((e) => e.reason)).toEqual(['ShardFailed', 'PodRecreated'])
  })

  it('completes the recovery when the new pod is ready, timing it from detection', () => {
    const pending = { reason: 'PodDeleted' as const, detectedAt: new Date(T0).toISOString(), podRecreatedAt: new Date(T0 + 20).toISOString() }
    const prev: ShardStatus = { ...running, podUid: undefined, phase: 'Recovering', ready: false, pendingRecovery: pending }
    const notYet = planShard(input({ prev, pod: pod({ uid: 'u2', ready: false, readySinceMs: undefined }), nowMs: T0 + 500 }))
    expect(notYet.status).toMatchObject({ phase: 'Recovering', ready: false })
    expect(notYet.recovered).toBeUndefined()
    // Ready's transition time has whole seconds; the observation bounds it.
    const p = planShard(input({ prev: notYet.status, pod: pod({ uid: 'u2', readySinceMs: T0 }), nowMs: T0 + 850 }))
    expect(p.recovered).toMatchObject({ reason: 'PodDeleted', timeToRecoverMs: 850, readyAt: new Date(T0 + 850).toISOString() })
    expect(p.status).toMatchObject({ phase: 'Running', ready: true, recoveries: 1, podUid: 'u2' })
    expect(p.status.pendingRecovery).toBeUndefined()
    expect(p.events.map((e) => e.reason)).toEqual(['ShardRecovered'])
  })

  describe('a replacement pod on its node with no container started', () => {
    const pending = { reason: 'PodDeleted' as const, detectedAt: new Date(T0).toISOString(), podRecreatedAt: new Date(T0).toISOString() }
    const recovering: ShardStatus = { ...running, podUid: 'u2', phase: 'Recovering', ready: false, pendingRecovery: pending }
    const stuck = (o: Partial<ObservedPod> = {}) => pod({ uid: 'u2', phase: 'Pending', ready: false, readySinceMs: undefined, started: false, createdAtMs: T0, nodeName: 'n1', ...o })
    const nudges = (p: ReturnType<typeof planShard>) => p.actions.filter((a) => a.kind === 'nudge-pod')
    // Its kubelet reported the claim forbidden once (a FailedMount event).
    const refused = { claimRefusals: 1 }

    it('is left alone at first, then its kubelet is nudged, then again after the same delay if it reports the refusal again', () => {
      expect(nudges(planShard(input({ prev: recovering, pod: stuck(), ...refused, nowMs: T0 + NUDGE_AFTER_MS - 1 })))).toEqual([])
      expect(nudges(planShard(input({ prev: recovering, pod: stuck(), ...refused, nowMs: T0 + NUDGE_AFTER_MS })))).toEqual([{ kind: 'nudge-pod', uid: 'u2', atMs: T0 + NUDGE_AFTER_MS, count: 1 }])
      const nudgedAtMs = T0 + NUDGE_AFTER_MS
      expect(nudges(planShard(input({ prev: recovering, pod: stuck({ nudgedAtMs, nudges: 1 }), claimRefusals: 2, nowMs: nudgedAtMs + NUDGE_AFTER_MS - 1 })))).toEqual([])
      expect(nudges(planShard(input({ prev: recovering, pod: stuck({ nudgedAtMs, nudges: 1 }), claimRefusals: 2, nowMs: nudgedAtMs + NUDGE_AFTER_MS }))).map((a) => a.count)).toEqual([2])
    })

    it('is never nudged without its kubelet\'s report, nor twice for one report', () => {
      expect(nudges(planShard(input({ prev: recovering, pod: stuck(), nowMs: T0 + 60_000 })))).toEqual([])
      expect(nudges(planShard(input({ prev: recovering, pod: stuck(), claimRefusals: 0, nowMs: T0 + 60_000 })))).toEqual([])
      expect(nudges(planShard(input({ prev: recovering, pod: stuck({ nudgedAtMs: T0 + 3000, nudges: 1 }), claimRefusals: 1, nowMs: T0 + 60_000 })))).toEqual([])
    })

    it(`stops after ${MAX_NUDGES} nudges: a refusal that lasts is something else`, () => {
      const nudgedAtMs = T0 + 6000
      expect(nudges(planShard(input({ prev: recovering, pod: stuck({ nudgedAtMs, nudges: MAX_NUDGES - 1 }), claimRefusals: 9, nowMs: T0 + 60_000 }))).map((a) => a.count)).toEqual([MAX_NUDGES])
      expect(nudges(planShard(input({ prev: recovering, pod: stuck({ nudgedAtMs, nudges: MAX_NUDGES }), claimRefusals: 9, nowMs: T0 + 60_000 })))).toEqual([])
    })

    it('counts the delay from when the operator recreated it, not from its creationTimestamp (whole seconds)', () => {
      const recreatedLate = { ...recovering, pendingRecovery: { ...pending, podRecreatedAt: new Date(T0 + 900).toISOString() } }
      expect(nudges(planShard(input({ prev: recreatedLate, pod: stuck(), ...refused, nowMs: T0 + 900 + NUDGE_AFTER_MS - 1 })))).toEqual([])
      expect(nudges(planShard(input({ prev: recreatedLate, pod: stuck(), ...refused, nowMs: T0 + 900 + NUDGE_AFTER_MS }))).length).toBe(1)
    })

    it.each([
      ['its container has started', { started: true }],
      ['it is not bound to a node yet', { nodeName: undefined }],
      ['it is past Pending', { phase: 'Running' }],
    ])('is not nudged when %s', (_, o: Partial<ObservedPod>) => {
      expect(nudges(planShard(input({ prev: recovering, pod: stuck(o), ...refused, nowMs: T0 + 10_000 })))).toEqual([])
    })

    it('is not nudged outside a recovery (a first start may be pulling its image)', () => {
      const starting: ShardStatus = { ...running, podUid: 'u2', phase: 'Starting', ready: false }
      expect(nudges(planShard(input({ prev: starting, pod: stuck(), ...refused, nowMs: T0 + 10_000 })))).toEqual([])
    })
  })

  it.each([
    ['Failed', 'PodFailed'],
    ['Succeeded', 'PodFailed'],
  ])('deletes a pod that ended in phase %s, now', (phase, reason) => {
    const p = planShard(input({ pod: pod({ phase, ready: false }) }))
    expect(p.actions).toEqual([{ kind: 'delete-pod', uid: 'u1', graceSeconds: 0, reason: `pod ended in phase ${phase}` }])
    expect(p.failed).toBe(reason)
  })

  it.each([
    [59_999, false],
    [60_000, true],
  ])('force-deletes a pod whose node has been NotReady for %i ms: %s', (forMs, lost) => {
    const p = planShard(input({ pod: pod({ nodeName: 'n1' }), nodeNotReadySinceMs: T0 - forMs }))
    expect(p.actions.some((a) => a.kind === 'delete-pod' && a.graceSeconds === 0)).toBe(lost)
    expect(p.failed).toBe(lost ? 'NodeLost' : undefined)
  })

  it('counts a container restarted in place by the kubelet as a recovery, timed from its termination', () => {
    const p = planShard(input({ pod: pod({ restarts: 1, ready: false, lastTerminatedAtMs: T0 - 300 }) }))
    expect(p.failed).toBe('ContainerRestarted')
    expect(p.status.pendingRecovery).toMatchObject({ reason: 'ContainerRestarted', detectedAt: new Date(T0 - 300).toISOString() })
    expect(p.actions).toEqual([])
    const done = planShard(input({ prev: p.status, pod: pod({ restarts: 1, readySinceMs: T0 + 400 }), nowMs: T0 + 450 }))
    expect(done.recovered?.timeToRecoverMs).toBe(750)
    expect(done.status.restarts).toBe(1)
  })

  it('waits for a terminating pod, and force-deletes it once its node is lost', () => {
    const terminating = pod({ deletionRequestedAtMs: T0 - 1000, deletionGraceSeconds: 30, nodeName: 'n1' })
    const wait = planShard(input({ pod: terminating }))
    expect(wait.actions).toEqual([])
    expect(wait.status.phase).toBe('Recovering')
    const lost = planShard(input({ pod: terminating, prev: wait.status, nodeNotReadySinceMs: T0 - 61_000 }))
    expect(lost.actions).toEqual([{ kind: 'delete-pod', uid: 'u1', graceSeconds: 0, reason: 'pod stuck terminating on a lost node' }])
    expect(lost.failed).toBeUndefined() // the same failure, not a second one
  })

  it('takes a pod whose node no longer exists for lost at once, without waiting for the timeout', () => {
    const p = planShard(input({ pod: pod({ nodeName: 'n1' }), nodeGone: true }))
    expect(p.failed).toBe('NodeLost')
    expect(p.status.pendingRecovery).toMatchObject({ reason: 'NodeLost' })
    expect(p.actions).toEqual([{ kind: 'delete-pod', uid: 'u1', graceSeconds: 0, reason: 'node lost' }])
    expect(planShard(input({ pod: pod({ nodeName: 'n1' }) })).actions).toEqual([])
  })

  it('rolls a stale pod only when allowed, and a roll is not a recovery', () => {
    expect(planShard(input({ desiredHash: 'h2' })).actions).toEqual([])
    const roll = planShard(input({ desiredHash: 'h2', mayRoll: true }))
    expect(roll.actions).toEqual([{ kind: 'delete-pod', uid: 'u1', reason: 'spec changed' }])
    expect(roll.status.phase).toBe('Rolling')
    const gone = planShard(input({ desiredHash: 'h2', prev: roll.status, pod: undefined }))
    expect(gone.actions).toEqual([{ kind: 'create-pod' }])
    expect(gone.failed).toBeUndefined()
    expect(gone.status.pendingRecovery).toBeUndefined()
    const back = planShard(input({ desiredHash: 'h2', prev: gone.status, pod: pod({ uid: 'u2', specHash: 'h2' }) }))
    expect(back.status).toMatchObject({ phase: 'Running', recoveries: 0 })
  })

  it('notices a pod replaced while the operator was away', () => {
    const p = planShard(input({ pod: pod({ uid: 'u9', createdAtMs: T0 - 5000, ready: false }) }))
    expect(p.status.pendingRecovery).toMatchObject({ reason: 'PodReplaced', detectedAt: new Date(T0 - 5000).toISOString() })
  })

  describe('a lost claim', () => {
    const lostPod = pod({ uid: 'u3', phase: 'Pending', ready: false, readySinceMs: undefined, started: false, createdAtMs: T0, problem: 'unschedulable: volume node affinity conflict' })
    const prev: ShardStatus = { ...running, podUid: 'u3', phase: 'Recovering', ready: false, pendingRecovery: { reason: 'NodeLost', detectedAt: new Date(T0 - 60_000).toISOString() } }
    const lost = { claimUid: 'c1', claimLost: 'its volume pv-1 is pinned to a node that cannot run it: node n1 no longer exists', lostClaimTimeoutMs: 120_000 }

    it('is said at once, then replaced after the timeout: the pod and the claim deleted, once', () => {
      const seen = planShard(input({ prev, pod: lostPod, ...lost }))
      expect(seen.actions).toEqual([])
      expect(seen.events).toEqual([{ type: 'Warning', reason: 'ClaimLost', message: `shard 1: claim data-p-opb-1 is lost (${lost.claimLost}); replaced with a new claim in 120 s unless it comes back` }])
      expect(seen.status.claimLostSince).toBe(new Date(T0).toISOString())
      expect(seen.requeueAfterMs).toBe(1000)
      const waiting = planShard(input({ prev: seen.status, pod: lostPod, ...lost, nowMs: T0 + 119_999 }))
      expect(waiting.actions).toEqual([])
      expect(waiting.events).toEqual([])
      const due = planShard(input({ prev: waiting.status, pod: lostPod, ...lost, nowMs: T0 + 120_000 }))
      expect(due.actions).toEqual([
        { kind: 'delete-pod', uid: 'u3', graceSeconds: 0, reason: 'its claim is lost' },
        { kind: 'delete-claim', uid: 'c1', reason: lost.claimLost },
      ])
      expect(due.events.map((e) => e.reason)).toEqual(['ClaimReplaced'])
      // The recovery already under way goes on: the replacement is no new failure.
      expect(due.failed).toBeUndefined()
      expect(due.status).toMatchObject({ phase: 'Recovering', claimReplacements: 1, pendingRecovery: prev.pendingRecovery })
      expect(due.status.claimLostSince).toBeUndefined()
      // A stale view still showing the old claim lost starts the timeout again instead of deleting twice.
      const stale = planShard(input({ prev: due.status, pod: lostPod, ...lost, nowMs: T0 + 121_000 }))
      expect(stale.actions.map((a) => a.kind)).not.toContain('delete-claim')
      // The old claim going away: no pod on it, and the pod still there is deleted.
      const deleting = planShard(input({ prev: due.status, pod: lostPod, claimDeleting: true, nowMs: T0 + 121_000 }))
      expect(deleting.actions).toEqual([{ kind: 'delete-pod', uid: 'u3', graceSeconds: 0, reason: 'its claim is being deleted' }])
      // Gone: a new claim and the pod on it, the same recovery; counted once.
      const fresh = planShard(input({ prev: deleting.status, pod: undefined, claimExists: false, nowMs: T0 + 122_000 }))
      expect(fresh.actions).toEqual([{ kind: 'apply-claim' }, { kind: 'create-pod' }])
      expect(fresh.status).toMatchObject({ claimReplacements: 1, pendingRecovery: prev.pendingRecovery })
      expect(fresh.failed).toBeUndefined()
    })

    it('starts a recovery of its own when the shard was running, and is never replaced with the timeout at 0', () => {
      const gone = { ...lost, claimLost: 'its volume pv-1 is gone (the claim Lost)' }
      const seen = planShard(input({ prev: { ...running, podUid: 'u3' }, pod: lostPod, ...gone }))
      expect(seen.failed).toBeUndefined()
      const due = planShard(input({ prev: seen.status, pod: lostPod, ...gone, nowMs: T0 + 120_000 }))
      expect(due.failed).toBe('ClaimLost')
      expect(due.status.pendingRecovery).toMatchObject({ reason: 'ClaimLost', detectedAt: new Date(T0).toISOString() })
      expect(due.actions.map((a) => a.kind)).toEqual(['delete-pod', 'delete-claim'])
      const never = planShard(input({ prev, pod: lostPod, ...lost, lostClaimTimeoutMs: 0 }))
      expect(never.events[0]!.message).toMatch(/lostClaimTimeoutSeconds is 0: delete the claim to have it replaced/)
      expect(planShard(input({ prev: never.status, pod: lostPod, ...lost, lostClaimTimeoutMs: 0, nowMs: T0 + 86_400_000 })).actions).toEqual([])
    })

    it('is forgotten when the claim serves again', () => {
      const seen = planShard(input({ prev, pod: lostPod, ...lost }))
      const back = planShard(input({ prev: seen.status, pod: pod({ uid: 'u3' }), nowMs: T0 + 5000 }))
      expect(back.status.claimLostSince).toBeUndefined()
      expect(back.actions).toEqual([])
    })
  })
})
