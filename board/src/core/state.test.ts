import { describe, expect, it } from 'vitest'
import { BoardState, healthFromResource, shardHealth, type Cell } from './state.js'
// The page's own module, plain JavaScript, tested as the page runs it.
import { heat, rankZones } from '../../public/hot.js'

const MIN = 60_000
const cell = (zone: string, w: number, o: Partial<Cell> = {}): Cell => ({ zone, windowStart: w * MIN, windowEnd: (w + 1) * MIN, requested: 10, matched: 8, completed: 5, cancelled: 1, rev: 1, final: false, emittedAt: 0, ...o })

describe('BoardState', () => {
  it('keeps the newest revision and never goes back, nor past a final', () => {
    const s = new BoardState(10)
    expect(s.apply(cell('a', 1, { rev: 2, requested: 12 }))).toBe(true)
    expect(s.apply(cell('a', 1, { rev: 1, requested: 99 }))).toBe(false)
    expect(s.apply(cell('a', 1, { rev: 2, requested: 99 }))).toBe(false)
    expect(s.apply(cell('a', 1, { rev: 3, requested: 14, final: true }))).toBe(true)
    expect(s.apply(cell('a', 1, { rev: 4, requested: 15 }))).toBe(false)
    expect(s.cells()).toEqual([cell('a', 1, { rev: 3, requested: 14, final: true })])
  })

  it('hands out each change once', () => {
    const s = new BoardState(10)
    s.apply(cell('a', 1))
    s.apply(cell('b', 1))
    s.apply(cell('a', 1, { rev: 2 }))
    expect(s.takeChanges().map((c) => [c.zone, c.rev])).toEqual([['a', 2], ['b', 1]])
    expect(s.takeChanges()).toEqual([])
  })

  it('forgets windows older than its history, and refuses to bring them back', () => {
    const s = new BoardState(3)
    for (let w = 0; w < 6; w++) s.apply(cell('a', w))
    expect(s.cells().map((c) => c.windowStart / MIN)).toEqual([2, 3, 4, 5])
    expect(s.apply(cell('a', 1, { rev: 5 }))).toBe(false)
  })
})

describe('shardHealth', () => {
  it.each([
    [{ phase: 'running' }, undefined, 'running', undefined],
    [{ phase: 'fencing' }, undefined, 'recovering', 0.25],
    [{ phase: 'replaying' }, undefined, 'recovering', 0.75],
    [{ phase: 'failed' }, undefined, 'down', 0],
    [{ phase: 'dancing' }, undefined, 'unknown', 0],
  ])('reads %j as %s', (status, error, state, progress) => {
    const h = shardHealth(1, status, error, 1000)
    expect(h.state).toBe(state)
    expect(h.progress).toBe(progress)
  })

  it('names what it cannot read in a status instead of guessing', () => {
    const h = shardHealth(1, { phase: 'running', lastRecovery: { readyAt: 'soon' } }, undefined, 1000)
    expect(h).toMatchObject({ state: 'unknown' })
    expect(h.error).toMatch(/lastRecovery\.readyAt/)
  })

  it('calls a running shard that stops answering down, and keeps its last recovery', () => {
    const running = shardHealth(0, { phase: 'running', lastRecovery: { readyAt: 500, timeToRecoverMs: 700, snapshot: { snapshotId: 's-1', kind: 'full' }, replayedRecords: 42, replayedBytes: 4200 } }, undefined, 1000)
    expect(running.lastRecovery).toEqual({ readyAt: 500, timeToRecoverMs: 700, snapshot: 's-1', replayedRecords: 42 })
    const down = shardHealth(0, undefined, 'ECONNREFUSED', 2000, running)
    expect(down).toMatchObject({ state: 'down', since: 2000, error: 'ECONNREFUSED', lastRecovery: running.lastRecovery })
    expect(shardHealth(0, undefined, 'ECONNREFUSED', 3000, down).since).toBe(2000)
    expect(shardHealth(0, undefined, 'ECONNREFUSED', 1000).state).toBe('unknown')
  })
})

describe('healthFromResource', () => {
  it('reads the operator\'s view of each shard', () => {
    const h = healthFromResource([
      { shard: 0, phase: 'Running', ready: true, lastRecovery: { readyAt: '2026-01-01T00:00:01.000Z', timeToRecoverMs: 820, snapshotId: 's-9', replayedRecords: 12 } },
      { shard: 1, phase: 'Recovering', ready: false, pendingRecovery: { reason: 'PodDeleted', detectedAt: '2026-01-01T00:00:00Z', podRecreatedAt: '2026-01-01T00:00:00.05Z' } },
      { shard: 2, phase: 'Terminating', ready: false },
    ], 5000, new Map())
    expect(h).toEqual([
      { shard: 0, state: 'running', since: 5000, lastRecovery: { readyAt: Date.parse('2026-01-01T00:00:01.000Z'), timeToRecoverMs: 820, snapshot: 's-9', replayedRecords: 12 } },
      { shard: 1, state: 'recovering', phase: 'PodDeleted, pod recreated', progress: 0.5, since: 5000 },
      { shard: 2, state: 'down', phase: 'terminating', progress: 0.5, since: 5000 },
    ])
  })
})

describe('a shard with a hot standby on the board', () => {
  const lag = { records: 3, inputSeconds: 0, watermarkSeconds: 1, sinceCommitSeconds: 0.1, lateEventsPerSecond: 0 }

  it('runs while either pod owns it, names the owner and the standby with its distance, and counts the takeovers', () => {
    const first = { shard: 0, pod: 'rides-opb-0', phase: 'Running' as const, ready: true, role: 'standby' as const, standbyLagRecords: 7, standbyLagMs: 30, promotions: 1 }
    const second = { shard: 0, pod: 'rides-opb-0-b', phase: 'Running' as const, ready: true, role: 'owner' as const, lag, promotions: 2 }
    const [h] = healthFromResource([first], 1000, new Map(), [second])
    expect(h).toMatchObject({ state: 'running', lag, pair: { owner: 'rides-opb-0-b', standby: 'rides-opb-0', standbyReady: true, standbyLagRecords: 7, standbyLagMs: 30, promotions: 3 } })
    // The standby pod recreated after it was the owner: the shard still runs, the pair says the standby is not ready.
    const [gone] = healthFromResource([{ ...first, ready: false, phase: 'Recovering' as const, role: undefined, pendingRecovery: { reason: 'PodDeleted' as const, detectedAt: '2026-01-01T00:00:00Z' } }], 2000, new Map(), [second])
    expect(gone).toMatchObject({ state: 'running', pair: { owner: 'rides-opb-0-b', standby: null } })
    // The owner gone and not yet replaced by the standby's report: taking over.
    const [taking] = healthFromResource([first], 3000, new Map(), [{ ...second, ready: false, phase: 'Recovering' as const, role: undefined }])
    expect(taking).toMatchObject({ state: 'recovering', phase: 'standby rides-opb-0 taking over', pair: { owner: null, standby: 'rides-opb-0' } })
    // Without standbys, no pair.
    expect(healthFromResource([{ ...second, role: undefined }], 1000, new Map())[0]!.pair).toBeUndefined()
  })
})

describe('lag on the board', () => {
  const lag = { records: 120, inputSeconds: 1.5, watermarkSeconds: 6.2, sinceCommitSeconds: 0.1, lateEventsPerSecond: 0.5 }

  it('comes with a running shard, from its /status or from the resource\'s status, and goes when it stops running', () => {
    expect(shardHealth(0, { phase: 'running', shardLag: lag }, undefined, 1000).lag).toEqual(lag)
    expect(shardHealth(0, { phase: 'replaying', shardLag: lag }, undefined, 1000).lag).toBeUndefined()
    const [fromResource] = healthFromResource([{ shard: 0, phase: 'Running', ready: true, lag: { ...lag, observedAt: '2026-01-01T00:00:00Z' } }], 5000, new Map())
    expect(fromResource?.lag).toEqual(lag)
  })
})

describe('heat and ranking (the page\'s module)', () => {
  it.each([
    [{ requested: 20, matched: 20 }, { demand: 20, unmet: 0.4 }, true, false],
    [{ requested: 19, matched: 5 }, { demand: 20, unmet: 0.4 }, false, true],
    [{ requested: 10, matched: 7 }, { demand: 20, unmet: 0.4 }, false, false],
    [{ requested: 2, matched: 0 }, { demand: 20, unmet: 0.4 }, false, false],
  ])('%j with %j: demand hot %s, unmet hot %s', (c, t, demandHot, unmetHot) => {
    expect(heat(c, t)).toMatchObject({ demandHot, unmetHot })
  })

  it('ranks zones by the newest minute\'s demand, then unmet demand', () => {
    const cells = [cell('a', 2, { requested: 5 }), cell('b', 2, { requested: 9 }), cell('c', 2, { requested: 9, matched: 1 }), cell('a', 1, { requested: 100 })]
    expect(rankZones(cells)).toEqual(['c', 'b', 'a'])
  })
})
