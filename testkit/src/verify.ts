import { countEvents, DEFAULT_MAX_FUTURE_SKEW_MS, parseRawEvent, parseWindowKey, windowKey, windowStart, type Counts, type EventTimeRule, type OutputRecord, type RideEvent } from '@ridepulse/contracts'
import { judgeLateness, type DeclaredLate, type InputEvent } from './lateness.js'

/**
 * The ground-truth check every crash test ends with: counts computed
 * independently from the raw input, compared with what a read_committed
 * reader of the output topic sees.
 */

/** The event-time rule the pipeline ran with, OpA's future-skew bound included. */
export type VerifyRule = EventTimeRule

export interface VerifyInput {
  /** The raw `orders` records, in any order. */
  raw: Array<{ value: Buffer | null; timestamp: number }>
  /**
   * Each shard's input (its partition of `orders.enriched`) in offset order:
   * the order in which the event-time rule decides lateness. It must hold
   * exactly the valid raw events.
   */
  shardInputs: readonly (readonly InputEvent[])[]
  /** What the late topic says: which events the pipeline declared late, at which watermark. */
  declaredLate: readonly DeclaredLate[]
  /** The output topic, in topic order per partition, as read read_committed. */
  output: OutputRecord[]
  rule: VerifyRule
}

export interface VerifyReport {
  /** (zone, window) pairs in the truth. */
  windows: number
  /** Final records in the output. */
  finals: number
  /** Windows whose final is missing or below the truth in some count. */
  lost: number
  /** Windows whose final is above the truth in some count, or that got more than one final. */
  duplicated: number
  finalsTwice: number
  /** Records whose rev is not above the previous rev of their window. */
  revViolations: number
  /** Records with a count below the previous record of their window. */
  decreasing: number
  missingFinals: number
  /** Windows with a final but no event in the truth. */
  unexpected: number
  /** Raw records parseRawEvent accepts, late ones included. */
  validEvents: number
  invalidEvents: number
  /** Valid events left out of the truth as late: by the rule, or by an accepted idle advance. */
  lateEvents: number
  /** Of those, the ones only an idle advance (wall clock) made late. */
  lateByIdle: number
  /** Events the rule makes late that the pipeline counted. */
  missedLate: number
  /** Events the pipeline declared late without a watermark that supports it. */
  unjustifiedLate: number
  /** Valid raw events missing from the shards' input, plus events there that are not valid raw events (a multiset difference). */
  inputMismatch: number
  /** The counts computed from the raw input, per `zone|windowStart` (what a final must equal). */
  truth: Map<string, Counts>
  ok: boolean
  /** The first mismatches, human-readable. */
  problems: string[]
}

const MAX_PROBLEMS = 20
const COUNT_FIELDS = ['requested', 'matched', 'completed', 'cancelled'] as const

const showCounts = (c: Counts): string => `req ${c.requested} / match ${c.matched} / done ${c.completed} / cancel ${c.cancelled}`

const showWindow = (zone: string, start: number): string => `${zone} @ ${new Date(start).toISOString()}`

function compare(actual: Counts, truth: Counts): { below: boolean; above: boolean } {
  let below = false
  let above = false
  for (const f of COUNT_FIELDS) {
    if (actual[f] < truth[f]) below = true
    if (actual[f] > truth[f]) above = true
  }
  return { below, above }
}

export function verifyOutput(input: VerifyInput): VerifyReport {
  const r: VerifyReport = {
    windows: 0,
    finals: 0,
    lost: 0,
    duplicated: 0,
    finalsTwice: 0,
    revViolations: 0,
    decreasing: 0,
    missingFinals: 0,
    unexpected: 0,
    validEvents: 0,
    invalidEvents: 0,
    lateEvents: 0,
    lateByIdle: 0,
    missedLate: 0,
    unjustifiedLate: 0,
    inputMismatch: 0,
    truth: new Map(),
    ok: false,
    problems: [],
  }
  const problem = (text: string): void => {
    if (r.problems.length < MAX_PROBLEMS) r.problems.push(text)
  }

  // What OpA must have written: every valid raw event, normalized, once.
  const expected = new Map<string, number>()
  const valid: RideEvent[] = []
  for (const rec of input.raw) {
    const p = parseRawEvent(rec.value, rec.timestamp, input.rule.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS)
    if (!p.ok) {
      r.invalidEvents++
      continue
    }
    r.validEvents++
    valid.push(p.event)
    const k = eventIdentity(p.event)
    expected.set(k, (expected.get(k) ?? 0) + 1)
  }
  for (const events of input.shardInputs) {
    for (const e of events) {
      const k = eventIdentity(e)
      expected.set(k, (expected.get(k) ?? 0) - 1)
    }
  }
  for (const [k, n] of expected) {
    if (n === 0) continue
    r.inputMismatch += Math.abs(n)
    problem(n > 0 ? `valid raw event ${k} missing ${n} time(s) from the shards' input` : `shards' input holds ${-n} event(s) ${k} beyond the valid raw input`)
  }

  // Lateness decided here, from the shards' input and the rule.
  const lateness = judgeLateness(input.shardInputs, input.declaredLate, input.rule)
  r.lateEvents = lateness.late.size
  r.lateByIdle = lateness.byIdle
  r.missedLate = lateness.missed
  r.unjustifiedLate = lateness.unjustified
  for (const p of lateness.problems) problem(p)

  // The truth: what the user sent (the valid raw events), less the late ones.
  const late = new Map<string, number>()
  for (const e of lateness.late) late.set(eventIdentity(e), (late.get(eventIdentity(e)) ?? 0) + 1)
  const truthEvents = new Map<string, RideEvent[]>()
  for (const e of valid) {
    const k = eventIdentity(e)
    const n = late.get(k) ?? 0
    if (n > 0) {
      late.set(k, n - 1)
      continue
    }
    const key = windowKey(e.zone, windowStart(e.ts, input.rule.windowSizeMs))
    const list = truthEvents.get(key)
    if (list) list.push(e)
    else truthEvents.set(key, [e])
  }
  const truth = new Map<string, Counts>()
  for (const [key, events] of truthEvents) truth.set(key, countEvents(events))
  r.windows = truth.size
  r.truth = truth

  const outputs = new Map<string, OutputRecord[]>()
  for (const o of input.output) {
    const key = windowKey(o.zone, o.windowStart)
    const list = outputs.get(key)
    if (list) list.push(o)
    else outputs.set(key, [o])
  }

  // Window by window, oldest first, so the problems read in time order.
  const keys = [...new Set([...truth.keys(), ...outputs.keys()])]
    .map((key) => ({ key, ...(parseWindowKey(key) ?? { zone: key, windowStart: 0 }) }))
    .sort((a, b) => a.windowStart - b.windowStart || (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0))

  for (const { key, zone, windowStart: start } of keys) {
    const name = showWindow(zone, start)
    const records = outputs.get(key) ?? []
    const finals = records.filter((o) => o.final)
    r.finals += finals.length

    let prev: OutputRecord | undefined
    for (const o of records) {
      if (prev) {
        if (o.rev <= prev.rev) {
          r.revViolations++
          problem(`${name}: rev ${o.rev} after rev ${prev.rev}`)
        }
        const dropped = COUNT_FIELDS.filter((f) => o[f] < (prev as OutputRecord)[f])
        if (dropped.length > 0) {
          r.decreasing++
          problem(`${name}: ${dropped.join(', ')} went down at rev ${o.rev} (${showCounts(prev)} → ${showCounts(o)})`)
        }
      }
      prev = o
    }

    if (finals.length > 1) {
      r.finalsTwice++
      problem(`${name}: ${finals.length} finals (revs ${finals.map((f) => f.rev).join(', ')})`)
    }

    const want = truth.get(key)
    if (want === undefined) {
      if (finals.length > 0) {
        r.unexpected++
        problem(`${name}: final ${showCounts(finals[0] as OutputRecord)} for a window without valid, non-late events`)
      }
      continue
    }
    if (finals.length === 0) {
      r.missingFinals++
      r.lost++
      const last = records.at(-1)
      problem(`${name}: no final; truth ${showCounts(want)}${last ? `, last rev ${last.rev} ${showCounts(last)}` : ', no output at all'}`)
      continue
    }
    let below = false
    let above = false
    for (const f of finals) {
      const c = compare(f, want)
      below ||= c.below
      above ||= c.above
      if (c.below || c.above) problem(`${name}: final rev ${f.rev} ${showCounts(f)} but truth ${showCounts(want)}`)
    }
    if (below) r.lost++
    if (above || finals.length > 1) r.duplicated++
  }

  r.ok =
    r.lost === 0 && r.duplicated === 0 && r.finalsTwice === 0 && r.revViolations === 0 && r.decreasing === 0 && r.missingFinals === 0 && r.unexpected === 0 &&
    r.missedLate === 0 && r.unjustifiedLate === 0 && r.inputMismatch === 0
  return r
}

/** An event as OpA normalizes it: what the raw input and the shards' input are matched on. */
const eventIdentity = (e: RideEvent): string => `${e.eventId}|${e.zone}|${e.type}|${e.ts}|${e.ingestMs}`
