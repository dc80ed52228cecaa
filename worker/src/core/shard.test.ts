import { describe, expect, it } from 'vitest'
import { windowKey, type WindowAgg } from './aggregate.js'
import type { RideEvent, RideType } from './event.js'
import { initialMeta, type ShardMeta } from './records.js'
import { processBatch, type StateView, type WindowConfig } from './shard.js'

const cfg: WindowConfig = { sizeMs: 60_000, allowedLatenessMs: 5_000, outOfOrdernessMs: 2_000, idleTimeoutMs: 10_000, retentionMs: 120_000 }

/** The committed state as a plain map: what the LMDB store holds, without the store. */
class MapState implements StateView {
  readonly m = new Map<string, WindowAgg>()
  get(key: string) {
    return this.m.get(key)
  }
  *openWindowsBefore(startBelow: number) {
    for (const [k, v] of this.m) if (!v.final && Number(k.split('|')[1]) < startBelow) yield k
  }
  *finalWindowsBefore(startBelow: number) {
    for (const [k, v] of this.m) if (v.final && Number(k.split('|')[1]) < startBelow) yield k
  }
  commit(changes: Map<string, WindowAgg | null>) {
    for (const [k, v] of changes) if (v) this.m.set(k, v)
      else this.m.delete(k)
  }
}

let n = 0
const ev = (zone: string, type: RideType, ts: number): RideEvent => ({ eventId: `e${n++}`, rideId: `r${n}`, zone, type, ts, ingestMs: ts })
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)

function run(state: MapState, meta: ShardMeta, events: RideEvent[], nowMs: number, caughtUp = false) {
  const r = processBatch(state, meta, { events, nextInputOffset: meta.inputOffset + events.length, nowMs, caughtUp, lastEventAtMs: nowMs }, cfg, 0)
  state.commit(r.changes)
  return r
}

describe('processBatch', () => {
  it('counts per zone and window and emits a growing revision per changed window', () => {
    const s = new MapState()
    const r1 = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 1), ev('harbor', 'matched', T0 + 2), ev('airport', 'requested', T0 + 3)], T0 + 3)
    expect(r1.output.map((o) => [o.zone, o.requested, o.matched, o.rev, o.final])).toEqual([
      ['harbor', 1, 1, 1, false],
      ['airport', 1, 0, 1, false],
    ])
    const r2 = run(s, r1.meta, [ev('harbor', 'completed', T0 + 4)], T0 + 4)
    expect(r2.output).toMatchObject([{ zone: 'harbor', requested: 1, matched: 1, completed: 1, rev: 2, final: false }])
    expect(r2.meta.inputOffset).toBe(4)
  })

  it('closes a window exactly once when the watermark passes its end plus the lateness', () => {
    const s = new MapState()
    let meta = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 10)], T0 + 10).meta
    // Watermark = max ts - 2 s. End 60 s + lateness 5 s: needs an event at T0 + 67 s.
    const notYet = run(s, meta, [ev('harbor', 'requested', T0 + 66_999)], T0 + 66_999)
    expect(notYet.output.filter((o) => o.final)).toEqual([])
    meta = notYet.meta
    const closing = run(s, meta, [ev('airport', 'requested', T0 + 67_000)], T0 + 67_000)
    expect(closing.output.filter((o) => o.final)).toMatchObject([{ zone: 'harbor', windowStart: T0, requested: 1, rev: 2, final: true }])
    const after = run(s, closing.meta, [ev('airport', 'requested', T0 + 68_000)], T0 + 68_000)
    expect(after.output.filter((o) => o.final)).toEqual([])
  })

  it('sends events for a final window to the late topic and counts them', () => {
    const s = new MapState()
    const m1 = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 10), ev('harbor', 'requested', T0 + 70_000)], T0 + 70_000).meta
    const r = run(s, m1, [ev('harbor', 'cancelled', T0 + 20)], T0 + 70_001)
    expect(r.late).toMatchObject([{ zone: 'harbor', type: 'cancelled', windowStart: T0 }])
    expect(r.meta.late).toBe(1)
    expect(s.get(windowKey('harbor', T0))).toMatchObject({ requested: 1, cancelled: 0, final: true })
  })

  it('advances the watermark with the wall clock on an idle partition read to its end, not on a backlog', () => {
    const s = new MapState()
    const m1 = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 10)], T0 + 10).meta
    const quiet = { events: [], nextInputOffset: m1.inputOffset, lastEventAtMs: T0 + 10 }
    const backlog = processBatch(s, m1, { ...quiet, nowMs: T0 + 200_000, caughtUp: false }, cfg, 0)
    expect(backlog.output).toEqual([])
    const idle = processBatch(s, m1, { ...quiet, nowMs: T0 + 200_000, caughtUp: true }, cfg, 0)
    expect(idle.output).toMatchObject([{ zone: 'harbor', final: true }])
  })

  it('writes tombstones for final windows past retention', () => {
    const s = new MapState()
    const m1 = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 10)], T0 + 10).meta
    const m2 = run(s, m1, [ev('airport', 'requested', T0 + 67_000)], T0 + 67_000).meta
    expect(s.get(windowKey('harbor', T0))?.final).toBe(true)
    // Retention 120 s after the first open window start.
    const r = run(s, m2, [ev('airport', 'requested', T0 + 250_000)], T0 + 250_000)
    expect(r.changes.get(windowKey('harbor', T0))).toBeNull()
    expect(s.get(windowKey('harbor', T0))).toBeUndefined()
  })

  it('raises seq on every change of a key, so replay can skip what it already holds', () => {
    const s = new MapState()
    const r1 = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 1), ev('harbor', 'requested', T0 + 2)], T0 + 2)
    const r2 = run(s, r1.meta, [ev('harbor', 'matched', T0 + 3)], T0 + 3)
    expect(r1.changes.get(windowKey('harbor', T0))?.seq).toBe(2)
    expect(r2.changes.get(windowKey('harbor', T0))?.seq).toBe(3)
    expect(r2.meta.seq).toBeGreaterThan(r1.meta.seq)
  })
})
