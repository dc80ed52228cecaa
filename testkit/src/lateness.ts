import { isFinal, supportedEventTime, windowStart, type EventTimeRule, type RideEvent } from '@ridepulse/contracts'

/**
 * The documented event-time rule, applied by the verifier on its own: per
 * shard, in the order of the shard's input, the watermark is the highest
 * supported event time so far (an event's time, never past its ingest time)
 * minus the out-of-orderness, and an event is late when the watermark before
 * it has passed its window's end plus the allowed lateness. Late events do
 * not move the watermark.
 *
 * The one thing the input cannot tell is the idle advance (a shard read to
 * its end with no event for the idle timeout follows the wall clock). An
 * event the pipeline declared late that the rule does not make late is
 * accepted only with a watermark ahead of the rule's at that point and past
 * its window: it is counted apart, as late by idleness.
 */

/** What the late topic says of one event. */
export interface DeclaredLate {
  eventId: string
  watermark: number
  /** The shard and the event's offset in its input, which tell two copies of one event apart. */
  shard?: number
  offset?: number
}

/** An event of a shard's input, with its offset there when known. */
export interface InputEvent extends RideEvent {
  offset?: number
}

export interface LatenessVerdict {
  /** The events left out of the truth: late by the rule, or by an accepted idle advance. */
  late: Set<RideEvent>
  byRule: number
  byIdle: number
  /** Events the rule makes late that the pipeline did not declare late (so it counted them). */
  missed: number
  /** Events declared late with a watermark that cannot justify it, or that no shard's input holds. */
  unjustified: number
  problems: string[]
}

const MAX_PROBLEMS = 20

export function judgeLateness(shardInputs: readonly (readonly InputEvent[])[], declared: readonly DeclaredLate[], rule: EventTimeRule): LatenessVerdict {
  // A declaration names its event by position when it can: an upstream that
  // retries sends can put two copies of one event in the input, and only
  // the position says which of them was declared late.
  const atPosition = new Map<string, DeclaredLate>()
  const pending = new Map<string, DeclaredLate[]>()
  for (const d of declared) {
    if (d.shard !== undefined && d.offset !== undefined) {
      atPosition.set(`${d.shard}:${d.offset}`, d)
      continue
    }
    const list = pending.get(d.eventId)
    if (list) list.push(d)
    else pending.set(d.eventId, [d])
  }
  const declaredFor = (shard: number, e: InputEvent): DeclaredLate | undefined => {
    const key = `${shard}:${e.offset}`
    const d = e.offset === undefined ? undefined : atPosition.get(key)
    if (d) {
      atPosition.delete(key)
      return d
    }
    return pending.get(e.eventId)?.shift()
  }
  const v: LatenessVerdict = { late: new Set(), byRule: 0, byIdle: 0, missed: 0, unjustified: 0, problems: [] }
  const problem = (text: string): void => {
    if (v.problems.length < MAX_PROBLEMS) v.problems.push(text)
  }
  const final = (start: number, watermark: number) => isFinal(start, rule.windowSizeMs, rule.allowedLatenessMs, watermark)

  shardInputs.forEach((events, shard) => {
    let watermark = -Infinity
    let maxTs = -Infinity
    for (const e of events) {
      const start = windowStart(e.ts, rule.windowSizeMs)
      const said = declaredFor(shard, e)
      if (final(start, watermark)) {
        v.late.add(e)
        v.byRule++
        if (!said) {
          v.missed++
          problem(`shard ${shard}: event ${e.eventId} (${new Date(e.ts).toISOString()}) is late by the rule (watermark ${new Date(watermark).toISOString()}) but was counted`)
        }
        continue
      }
      if (said) {
        if (said.watermark > watermark && final(start, said.watermark)) {
          v.late.add(e)
          v.byIdle++
          continue
        }
        v.unjustified++
        problem(`shard ${shard}: event ${e.eventId} (${new Date(e.ts).toISOString()}) declared late at watermark ${said.watermark}, which the rule (${watermark}) and its window do not support`)
      }
      maxTs = Math.max(maxTs, supportedEventTime(e))
      watermark = Math.max(watermark, maxTs - rule.outOfOrdernessMs)
    }
  })
  for (const [eventId, left] of pending) {
    if (left.length === 0) continue
    v.unjustified += left.length
    problem(`event ${eventId} declared late ${left.length} more time(s) than it is in the shards' input`)
  }
  for (const [position, d] of atPosition) {
    v.unjustified++
    problem(`event ${d.eventId} declared late at shard:offset ${position}, where the shards' input does not hold it`)
  }
  return v
}
