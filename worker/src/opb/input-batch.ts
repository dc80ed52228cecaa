import { decodeEvent, type RideEvent } from '@ridepulse/contracts'
import type { PartitionReader } from '@ridepulse/kafka'

/** One commit interval's input: the enriched events read, and where the reading stands. */
export interface InputBatch {
  events: RideEvent[]
  offsets: number[]
  /** The offset the next interval reads from. */
  nextOffset: number
  caughtUp: boolean
  /** Records that are not enriched events, passed over. */
  skipped: number
  /** Records between `nextOffset` and the partition's last stable offset. */
  lag: number
  /** The timestamp of the last record read; undefined when none was. */
  lastReadTs: number | undefined
}

/**
 * Reads the shard's input from `from` until the deadline, a stop, or
 * `maxRecords` (at most that many per transaction: the rest of a fetch is
 * read again next time).
 */
export async function readInterval(input: PartitionReader, from: number, o: { deadline: number; maxRecords: number; nowMs: () => number; stopping: () => boolean }): Promise<InputBatch> {
  const b: InputBatch = { events: [], offsets: [], nextOffset: from, caughtUp: false, skipped: 0, lag: 0, lastReadTs: undefined }
  while (b.events.length + b.skipped < o.maxRecords) {
    const r = await input.fetch(b.nextOffset, { maxWaitMs: Math.max(0, o.deadline - o.nowMs()), maxBytes: 4 << 20 })
    let next = r.nextOffset
    for (const rec of r.records) {
      if (b.events.length + b.skipped >= o.maxRecords) {
        next = rec.offset
        break
      }
      b.lastReadTs = rec.timestamp
      const e = decodeEvent(rec.value)
      if (e) {
        b.events.push(e)
        b.offsets.push(rec.offset)
      } else b.skipped++
    }
    b.nextOffset = next
    b.lag = Math.max(0, r.lastStableOffset - next)
    b.caughtUp = next >= r.lastStableOffset
    if (o.nowMs() >= o.deadline || o.stopping()) break
  }
  return b
}
