import { addEvent, emptyAgg, windowKey, parseWindowKey, type WindowAgg } from './aggregate.js'
import { firstOpenWindowStart, isFinal, supportedEventTime, type LateRecord, type OutputRecord, type RideEvent, windowStart } from '@ridepulse/contracts'
import type { ShardMeta } from './records.js'
import { advance, type WatermarkConfig } from './watermark.js'

export interface WindowConfig extends WatermarkConfig {
  sizeMs: number
  allowedLatenessMs: number
  /** How long a final window stays in the state (and the changelog) before its tombstone. */
  retentionMs: number
}

/** Read access to the committed state the batch builds on. */
export interface StateView {
  get(key: string): WindowAgg | undefined
  /** Keys of windows not final yet whose start is below `startBelow`. */
  openWindowsBefore(startBelow: number): Iterable<string>
  /** Keys of final windows whose start is below `startBelow`. */
  finalWindowsBefore(startBelow: number): Iterable<string>
}

export interface BatchInput {
  events: readonly RideEvent[]
  /** Each event's offset in the shard's input, when known (it goes into its late record). */
  offsets?: readonly number[]
  /** Offset after the last record consumed (records that were not events included). */
  nextInputOffset: number
  nowMs: number
  /** The input partition was read to its end: an idle watermark may apply. */
  caughtUp: boolean
  /** Wall-clock time of the last event seen; idleness is measured from it. */
  lastEventAtMs: number
}

export interface BatchResult {
  /** New value of every key the batch changed; null deletes (a tombstone). */
  changes: Map<string, WindowAgg | null>
  meta: ShardMeta
  output: OutputRecord[]
  late: LateRecord[]
  lastEventAtMs: number
}


/**
 * Applies one batch to the state: counts the events, advances the watermark,
 * closes the windows it passed and drops the ones past retention. Pure: the
 * caller writes `changes` to the changelog and the store, and `output` and
 * `late` to their topics, in one transaction.
 */
export function processBatch(view: StateView, meta: ShardMeta, input: BatchInput, cfg: WindowConfig, shard: number): BatchResult {
  const changes = new Map<string, WindowAgg | null>()
  const read = (key: string): WindowAgg | undefined => {
    const c = changes.get(key)
    return c === null ? undefined : (c ?? view.get(key))
  }
  const late: LateRecord[] = []
  let maxEventTs = meta.maxEventTs
  let lastEventAtMs = input.lastEventAtMs
  // The watermark moves event by event, in input order: which events are
  // late depends on the input alone, never on where a batch ended.
  let watermark = meta.watermark

  input.events.forEach((e, i) => {
    const start = windowStart(e.ts, cfg.sizeMs)
    lastEventAtMs = input.nowMs
    if (isFinal(start, cfg.sizeMs, cfg.allowedLatenessMs, watermark)) {
      const offset = input.offsets?.[i]
      late.push({ eventId: e.eventId, ...(offset === undefined ? {} : { offset }), zone: e.zone, type: e.type, ts: e.ts, windowStart: start, watermark, shard })
      return
    }
    maxEventTs = Math.max(maxEventTs, supportedEventTime(e))
    watermark = Math.max(watermark, maxEventTs - cfg.outOfOrdernessMs)
    const key = windowKey(e.zone, start)
    changes.set(key, addEvent(read(key) ?? emptyAgg(), e.type))
  })

  // An idle partition read to its end lets the watermark follow the wall
  // clock. That advance is kept only when it is committed (it closed a
  // window): from then on it is in the shard's state, and a replay restores
  // it with the rest.
  const wm = advance(
    { maxEventTs: maxEventTs < 0 ? -Infinity : maxEventTs, lastEventAtMs, watermark: watermark < 0 ? -Infinity : watermark },
    cfg,
    input.nowMs,
    input.caughtUp,
  ).watermark
  watermark = Number.isFinite(wm) ? Math.max(watermark, Math.floor(wm)) : watermark

  const output: OutputRecord[] = []
  const emit = (key: string, agg: WindowAgg): WindowAgg => {
    const w = parseWindowKey(key)!
    const next = { ...agg, rev: agg.rev + 1 }
    output.push({
      zone: w.zone,
      windowStart: w.windowStart,
      windowEnd: w.windowStart + cfg.sizeMs,
      requested: next.requested,
      matched: next.matched,
      completed: next.completed,
      cancelled: next.cancelled,
      rev: next.rev,
      final: next.final,
      emittedAt: input.nowMs,
    })
    return next
  }

  // Close every window the watermark passed: those changed in this batch and
  // those already in the state.
  const openBelow = firstOpenWindowStart(cfg.sizeMs, cfg.allowedLatenessMs, watermark)
  const closing = new Set<string>()
  for (const key of view.openWindowsBefore(openBelow)) closing.add(key)
  for (const [key, agg] of changes) if (agg && !agg.final && parseWindowKey(key)!.windowStart < openBelow) closing.add(key)
  for (const key of closing) {
    const agg = read(key)
    if (!agg || agg.final) continue
    changes.set(key, emit(key, { ...agg, final: true, seq: agg.seq + 1 }))
  }
  for (const [key, agg] of changes) {
    if (agg && !agg.final) changes.set(key, emit(key, agg))
  }

  // Drop final windows past retention; the tombstone keeps the changelog bounded.
  const retainedFrom = openBelow - cfg.retentionMs
  for (const key of view.finalWindowsBefore(retainedFrom)) changes.set(key, null)

  const changed = changes.size > 0 || late.length > 0 || watermark !== meta.watermark || input.nextInputOffset !== meta.inputOffset
  const nextMeta: ShardMeta = {
    inputOffset: input.nextInputOffset,
    watermark,
    maxEventTs,
    late: meta.late + late.length,
    seq: changed ? meta.seq + 1 : meta.seq,
  }
  return { changes, meta: nextMeta, output, late, lastEventAtMs }
}
