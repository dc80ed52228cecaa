import { describe, expect, it } from 'vitest'
import { windowKey, type WindowAgg } from './aggregate.js'
import { createRng } from '@ridepulse/testkit'
import type { RideEvent, RideType } from '@ridepulse/contracts'
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

  it('decides lateness event by event: one after the event that closes its window is late in the same batch', () => {
    const s = new MapState()
    const r = run(s, initialMeta(), [ev('harbor', 'requested', T0 + 10), ev('airport', 'requested', T0 + 70_000), ev('harbor', 'cancelled', T0 + 20)], T0 + 70_000)
    expect(r.late).toMatchObject([{ zone: 'harbor', type: 'cancelled', windowStart: T0, watermark: T0 + 68_000 }])
    expect(r.output.filter((o) => o.final)).toMatchObject([{ zone: 'harbor', windowStart: T0, requested: 1, cancelled: 0 }])
  })

  it('moves the watermark no further than an event\'s ingest time', () => {
    const s = new MapState()
    // Stamped an hour after it reached Kafka: it may count, but it cannot close the windows of the shard's other traffic.
    const ahead = { ...ev('harbor', 'requested', T0 + 3_600_000), ingestMs: T0 + 30 }
    const r = run(s, initialMeta(), [ev('airport', 'requested', T0 + 10), ahead, ev('airport', 'matched', T0 + 20)], T0 + 40)
    expect(r.late).toEqual([])
    expect(r.meta.watermark).toBe(T0 + 30 - cfg.outOfOrdernessMs)
  })
})

describe('processBatch over a whole input', () => {
  const rng = createRng(5)
  // Three zones, disorder up to 20 s around a clock moving 1 s per event: some events are late.
  const input: RideEvent[] = Array.from({ length: 600 }, (_, i) => {
    const type = (['requested', 'matched', 'completed', 'cancelled'] as const)[rng.int(4)]!
    const ts = T0 + i * 1_000 - rng.int(20_000) + (rng.int(50) === 0 ? -90_000 : 0)
    return { eventId: `x${i}`, rideId: `r${i}`, zone: ['harbor', 'airport', 'old-town'][rng.int(3)]!, type, ts, ingestMs: T0 + i * 1_000 }
  })

  /**
   * Runs `input` in batches cut at random (by `seed`). With `crashAt`, the
   * batch that starts there is computed but never committed, as if the
   * process died before its commit: the next one starts over from the last
   * committed state and meta, with batches cut differently from there on.
   */
  function runAll(seed: number, crashAt?: number) {
    const cut = createRng(seed)
    const s = new MapState()
    let meta = initialMeta()
    const finals = new Map<string, unknown>()
    const late: string[] = []
    let crashed = false
    while (meta.inputOffset < input.length) {
      const from = meta.inputOffset
      const events = input.slice(from, from + 1 + cut.int(40))
      const r = processBatch(s, meta, { events, nextInputOffset: from + events.length, nowMs: T0, caughtUp: false, lastEventAtMs: T0 }, cfg, 0)
      if (crashAt !== undefined && !crashed && from + events.length > crashAt) {
        crashed = true
        continue // lost with the process: nothing of it reached the state, the output or the late topic
      }
      s.commit(r.changes)
      meta = r.meta
      // Counts only: rev counts the output records of a window, one per batch that changed it.
      for (const o of r.output) if (o.final) finals.set(`${o.zone}|${o.windowStart}`, [o.requested, o.matched, o.completed, o.cancelled])
      late.push(...r.late.map((l) => l.eventId))
    }
    return { finals, late }
  }

  const reference = runAll(1)

  it('late events do occur in this input', () => {
    expect(reference.late.length).toBeGreaterThan(5)
    expect(reference.finals.size).toBeGreaterThan(20)
  })

  it.each([
    ['other batch cuts', 2, undefined],
    ['other batch cuts again', 3, undefined],
    ['a crash early on', 4, 50],
    ['a crash mid-way', 5, 300],
    ['a crash near the end', 6, 590],
  ])('gives identical finals and late events with %s', (_name, seed, crashAt) => {
    const r = runAll(seed, crashAt)
    expect(r.late).toEqual(reference.late)
    expect(r.finals).toEqual(reference.finals)
  })
})
