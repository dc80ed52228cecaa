import { DEFAULT_MAX_FUTURE_SKEW_MS, parseRawEvent, parseWindowKey, windowKey, windowStart, type Counts, type EventTimeRule, type OutputRecord, type RideEvent } from '@ridepulse/contracts'
import { LatenessJudge, type DeclaredLate, type InputEvent } from './lateness.js'

/**
 * The ground-truth check every crash test ends with: counts computed
 * independently from the raw input, compared with what a read_committed
 * reader of the output topic sees.
 *
 * It streams: `Verification` takes the raw records, each shard's input and
 * the output one at a time and keeps only what is per window (the counts,
 * a multiset fingerprint of the events, the output's last record), so a run
 * of tens of millions of events is checked in the memory of its windows.
 * Where the raw input and the shards' input differ, `InputDiff` reads the
 * differing windows again, event by event, to name the events.
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
  /** Valid raw events missing from the shards' input, plus events there that are not valid raw events (a multiset difference; per window by count alone past `InputDiff`'s bound). */
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

/** An event as OpA normalizes it: what the raw input and the shards' input are matched on. */
const eventIdentity = (e: RideEvent): string => `${e.eventId}|${e.zone}|${e.type}|${e.ts}|${e.ingestMs}`

/**
 * A multiset of events in three numbers: how many, and two sums of 32-bit
 * hashes of their identities (FNV-1a and a multiply-rotate hash). Equal
 * multisets give equal fingerprints; unequal ones collide with a chance of
 * about 2^-64.
 */
interface Fingerprint {
  n: number
  a: number
  b: number
}

function addIdentity(f: Fingerprint, id: string): void {
  let a = 0x811c9dc5
  let b = 0x9747b28c
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
    b ^= b >>> 15
  }
  f.n++
  f.a = (f.a + (a >>> 0)) >>> 0
  f.b = (f.b + (b >>> 0)) >>> 0
}

/** The valid raw events of one window (late ones included), or its share of the shards' input. */
interface Tally extends Counts, Fingerprint {}

const newTally = (): Tally => ({ requested: 0, matched: 0, completed: 0, cancelled: 0, n: 0, a: 0, b: 0 })

function tallyOf(map: Map<string, Tally>, key: string): Tally {
  let t = map.get(key)
  if (!t) map.set(key, (t = newTally()))
  return t
}

/** What the output holds of one window: its finals, the record before, and the problems its sequence showed. */
interface OutputWindow {
  finals: OutputRecord[]
  last: OutputRecord
  problems?: string[]
}

const keyOf = (e: RideEvent, sizeMs: number): string => windowKey(e.zone, windowStart(e.ts, sizeMs))

export class Verification {
  private readonly judge: LatenessJudge
  private readonly raw = new Map<string, Tally>()
  private readonly input = new Map<string, Tally>()
  private readonly late = new Map<string, Tally>()
  private readonly output = new Map<string, OutputWindow>()
  private validEvents = 0
  private invalidEvents = 0
  private revViolations = 0
  private decreasing = 0

  constructor(
    private readonly rule: VerifyRule,
    declaredLate: readonly DeclaredLate[],
  ) {
    this.judge = new LatenessJudge(declaredLate, rule)
  }

  /** A raw `orders` record, in any order. */
  addRaw(value: Buffer | null, timestamp: number): void {
    const p = parseRawEvent(value, timestamp, this.rule.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS)
    if (!p.ok) {
      this.invalidEvents++
      return
    }
    this.validEvents++
    const t = tallyOf(this.raw, keyOf(p.event, this.rule.windowSizeMs))
    t[p.event.type]++
    addIdentity(t, eventIdentity(p.event))
  }

  /** The next event of `shard`'s input: each shard's events in offset order, the order lateness is decided in. */
  addInput(shard: number, e: InputEvent): void {
    const key = keyOf(e, this.rule.windowSizeMs)
    addIdentity(tallyOf(this.input, key), eventIdentity(e))
    if (this.judge.judge(shard, e) === undefined) return
    const late = tallyOf(this.late, key)
    late[e.type]++
    late.n++
  }

  /** The next output record of its partition, in topic order. */
  addOutput(o: OutputRecord): void {
    const key = windowKey(o.zone, o.windowStart)
    const w = this.output.get(key)
    if (!w) {
      this.output.set(key, { finals: o.final ? [o] : [], last: o })
      return
    }
    const prev = w.last
    const problem = (text: string): void => {
      w.problems ??= []
      if (w.problems.length < MAX_PROBLEMS) w.problems.push(text)
    }
    const name = showWindow(o.zone, o.windowStart)
    if (o.rev <= prev.rev) {
      this.revViolations++
      problem(`${name}: rev ${o.rev} after rev ${prev.rev}`)
    }
    const dropped = COUNT_FIELDS.filter((f) => o[f] < prev[f])
    if (dropped.length > 0) {
      this.decreasing++
      problem(`${name}: ${dropped.join(', ')} went down at rev ${o.rev} (${showCounts(prev)} → ${showCounts(o)})`)
    }
    if (o.final) w.finals.push(o)
    w.last = o
  }

  /** The windows where the valid raw events and the shards' input differ, and how many events each side has there. */
  mismatchedWindows(): Map<string, { raw: number; input: number }> {
    const out = new Map<string, { raw: number; input: number }>()
    const empty = newTally()
    for (const key of new Set([...this.raw.keys(), ...this.input.keys()])) {
      const r = this.raw.get(key) ?? empty
      const i = this.input.get(key) ?? empty
      if (r.n !== i.n || r.a !== i.a || r.b !== i.b) out.set(key, { raw: r.n, input: i.n })
    }
    return out
  }

  /** The report, once everything is in; `diff`: what `InputDiff` found in the mismatched windows, if it read them. */
  finish(diff?: { mismatch: number; problems: string[] }): VerifyReport {
    const lateness = this.judge.finish()
    const r: VerifyReport = {
      windows: 0,
      finals: 0,
      lost: 0,
      duplicated: 0,
      finalsTwice: 0,
      revViolations: this.revViolations,
      decreasing: this.decreasing,
      missingFinals: 0,
      unexpected: 0,
      validEvents: this.validEvents,
      invalidEvents: this.invalidEvents,
      lateEvents: lateness.byRule + lateness.byIdle,
      lateByIdle: lateness.byIdle,
      missedLate: lateness.missed,
      unjustifiedLate: lateness.unjustified,
      inputMismatch: 0,
      truth: new Map(),
      ok: false,
      problems: [],
    }
    const problem = (text: string): void => {
      if (r.problems.length < MAX_PROBLEMS) r.problems.push(text)
    }

    if (diff) {
      r.inputMismatch = diff.mismatch
      for (const p of diff.problems) problem(p)
    } else {
      for (const [key, { raw, input }] of this.mismatchedWindows()) {
        r.inputMismatch += Math.max(1, Math.abs(raw - input))
        problem(`${key}: ${raw} valid raw event(s), ${input} in the shards' input${raw === input ? ', not the same ones' : ''}`)
      }
    }
    for (const p of lateness.problems) problem(p)

    // The truth: what the user sent (the valid raw events), less the late ones.
    for (const [key, t] of this.raw) {
      const late = this.late.get(key) ?? newTally()
      if (t.n - late.n <= 0) continue
      r.truth.set(key, { requested: t.requested - late.requested, matched: t.matched - late.matched, completed: t.completed - late.completed, cancelled: t.cancelled - late.cancelled })
    }
    r.windows = r.truth.size

    // Window by window, oldest first, so the problems read in time order.
    const keys = [...new Set([...r.truth.keys(), ...this.output.keys()])]
      .map((key) => ({ key, ...(parseWindowKey(key) ?? { zone: key, windowStart: 0 }) }))
      .sort((a, b) => a.windowStart - b.windowStart || (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0))

    for (const { key, zone, windowStart: start } of keys) {
      const name = showWindow(zone, start)
      const w = this.output.get(key)
      const finals = w?.finals ?? []
      r.finals += finals.length
      for (const p of w?.problems ?? []) problem(p)

      if (finals.length > 1) {
        r.finalsTwice++
        problem(`${name}: ${finals.length} finals (revs ${finals.map((f) => f.rev).join(', ')})`)
      }

      const want = r.truth.get(key)
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
        problem(`${name}: no final; truth ${showCounts(want)}${w ? `, last rev ${w.last.rev} ${showCounts(w.last)}` : ', no output at all'}`)
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
}

/**
 * The events that differ between the valid raw input and the shards' input,
 * in the windows `Verification` found to differ: a second reading of both,
 * holding only those windows' events.
 */
export class InputDiff {
  /** Valid raw events less input events, by identity. */
  private readonly expected = new Map<string, number>()

  constructor(
    private readonly windows: ReadonlySet<string>,
    private readonly rule: VerifyRule,
  ) {}

  /** Read the windows again when they hold at most this many events on both sides together; past it, the per-window counts are the report. */
  static readonly MAX_EVENTS = 1_000_000

  addRaw(value: Buffer | null, timestamp: number): void {
    const p = parseRawEvent(value, timestamp, this.rule.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS)
    if (p.ok) this.count(p.event, 1)
  }

  addInput(e: InputEvent): void {
    this.count(e, -1)
  }

  result(): { mismatch: number; problems: string[] } {
    let mismatch = 0
    const problems: string[] = []
    for (const [k, n] of this.expected) {
      if (n === 0) continue
      mismatch += Math.abs(n)
      if (problems.length < MAX_PROBLEMS) problems.push(n > 0 ? `valid raw event ${k} missing ${n} time(s) from the shards' input` : `shards' input holds ${-n} event(s) ${k} beyond the valid raw input`)
    }
    return { mismatch, problems }
  }

  private count(e: RideEvent, by: number): void {
    if (!this.windows.has(keyOf(e, this.rule.windowSizeMs))) return
    const k = eventIdentity(e)
    this.expected.set(k, (this.expected.get(k) ?? 0) + by)
  }
}

/** The check on arrays: what the unit tests and a caller holding everything in memory use. */
export function verifyOutput(input: VerifyInput): VerifyReport {
  const v = new Verification(input.rule, input.declaredLate)
  for (const rec of input.raw) v.addRaw(rec.value, rec.timestamp)
  input.shardInputs.forEach((events, shard) => {
    for (const e of events) v.addInput(shard, e)
  })
  for (const o of input.output) v.addOutput(o)
  const mismatched = v.mismatchedWindows()
  if (mismatched.size === 0) return v.finish()
  const diff = new InputDiff(new Set(mismatched.keys()), input.rule)
  for (const rec of input.raw) diff.addRaw(rec.value, rec.timestamp)
  for (const events of input.shardInputs) for (const e of events) diff.addInput(e)
  return v.finish(diff.result())
}
