import { countEvents, parseWindowKey, windowKey, type Counts } from './aggregate.js'
import { parseRawEvent, type RideEvent } from './event.js'
import type { OutputRecord } from './records.js'
import { windowStart } from './windows.js'

/**
 * The ground-truth check every crash test ends with: counts computed
 * independently from the raw input, compared with what a read_committed
 * reader of the output topic sees.
 */

export interface VerifyInput {
  /** The raw `orders` records, in any order. */
  raw: Array<{ value: Buffer | null; timestamp: number }>
  /** Events the pipeline declared late: they are not in the truth. */
  lateEventIds: Iterable<string>
  /** The output topic, in topic order per partition, as read read_committed. */
  output: OutputRecord[]
  windowSizeMs: number
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
  /** Valid events left out of the truth because the pipeline declared them late. */
  lateEvents: number
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
  const late = new Set(input.lateEventIds)
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
    truth: new Map(),
    ok: false,
    problems: [],
  }
  const problem = (text: string): void => {
    if (r.problems.length < MAX_PROBLEMS) r.problems.push(text)
  }

  const truthEvents = new Map<string, RideEvent[]>()
  for (const rec of input.raw) {
    const p = parseRawEvent(rec.value, rec.timestamp)
    if (!p.ok) {
      r.invalidEvents++
      continue
    }
    r.validEvents++
    if (late.has(p.event.eventId)) {
      r.lateEvents++
      continue
    }
    const key = windowKey(p.event.zone, windowStart(p.event.ts, input.windowSizeMs))
    const list = truthEvents.get(key)
    if (list) list.push(p.event)
    else truthEvents.set(key, [p.event])
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

  r.ok = r.lost === 0 && r.duplicated === 0 && r.finalsTwice === 0 && r.revViolations === 0 && r.decreasing === 0 && r.missingFinals === 0 && r.unexpected === 0
  return r
}
