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
 *
 * The judge sees one event at a time and keeps only each shard's watermark
 * and the declarations not yet matched, so a run of any length fits.
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
  byRule: number
  byIdle: number
  /** Events the rule makes late that the pipeline did not declare late (so it counted them). */
  missed: number
  /** Events declared late with a watermark that cannot justify it, or that no shard's input holds. */
  unjustified: number
  problems: string[]
}

/** Why an event is left out of the truth, if it is. */
export type Lateness = 'rule' | 'idle' | undefined

const MAX_PROBLEMS = 20

export class LatenessJudge {
  // A declaration names its event by position when it can: an upstream that
  // retries sends can put two copies of one event in the input, and only
  // the position says which of them was declared late.
  private readonly atPosition = new Map<string, DeclaredLate>()
  private readonly pending = new Map<string, DeclaredLate[]>()
  private readonly shards = new Map<number, { watermark: number; maxTs: number }>()
  private readonly v: LatenessVerdict = { byRule: 0, byIdle: 0, missed: 0, unjustified: 0, problems: [] }

  constructor(
    declared: readonly DeclaredLate[],
    private readonly rule: EventTimeRule,
  ) {
    for (const d of declared) {
      if (d.shard !== undefined && d.offset !== undefined) {
        this.atPosition.set(`${d.shard}:${d.offset}`, d)
        continue
      }
      const list = this.pending.get(d.eventId)
      if (list) list.push(d)
      else this.pending.set(d.eventId, [d])
    }
  }

  /** The next event of `shard`'s input (each shard's events in offset order): late by the rule, by idleness, or counted. */
  judge(shard: number, e: InputEvent): Lateness {
    let s = this.shards.get(shard)
    if (!s) this.shards.set(shard, (s = { watermark: -Infinity, maxTs: -Infinity }))
    const start = windowStart(e.ts, this.rule.windowSizeMs)
    const said = this.declaredFor(shard, e)
    if (this.final(start, s.watermark)) {
      this.v.byRule++
      if (!said) {
        this.v.missed++
        this.problem(`shard ${shard}: event ${e.eventId} (${new Date(e.ts).toISOString()}) is late by the rule (watermark ${new Date(s.watermark).toISOString()}) but was counted`)
      }
      return 'rule'
    }
    if (said) {
      if (said.watermark > s.watermark && this.final(start, said.watermark)) {
        this.v.byIdle++
        return 'idle'
      }
      this.v.unjustified++
      this.problem(`shard ${shard}: event ${e.eventId} (${new Date(e.ts).toISOString()}) declared late at watermark ${said.watermark}, which the rule (${s.watermark}) and its window do not support`)
    }
    s.maxTs = Math.max(s.maxTs, supportedEventTime(e))
    s.watermark = Math.max(s.watermark, s.maxTs - this.rule.outOfOrdernessMs)
    return undefined
  }

  /** The verdict, once every shard's input has been judged: declarations left over name events no input holds. */
  finish(): LatenessVerdict {
    for (const [eventId, left] of this.pending) {
      if (left.length === 0) continue
      this.v.unjustified += left.length
      this.problem(`event ${eventId} declared late ${left.length} more time(s) than it is in the shards' input`)
    }
    for (const [position, d] of this.atPosition) {
      this.v.unjustified++
      this.problem(`event ${d.eventId} declared late at shard:offset ${position}, where the shards' input does not hold it`)
    }
    this.pending.clear()
    this.atPosition.clear()
    return this.v
  }

  private declaredFor(shard: number, e: InputEvent): DeclaredLate | undefined {
    const key = `${shard}:${e.offset}`
    const d = e.offset === undefined ? undefined : this.atPosition.get(key)
    if (d) {
      this.atPosition.delete(key)
      return d
    }
    return this.pending.get(e.eventId)?.shift()
  }

  private final(start: number, watermark: number): boolean {
    return isFinal(start, this.rule.windowSizeMs, this.rule.allowedLatenessMs, watermark)
  }

  private problem(text: string): void {
    if (this.v.problems.length < MAX_PROBLEMS) this.v.problems.push(text)
  }
}
