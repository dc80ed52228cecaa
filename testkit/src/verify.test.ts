import { describe, expect, it } from 'vitest'
import { type OutputRecord, parseRawEvent, type RideEvent } from '@ridepulse/contracts'
import type { DeclaredLate, InputEvent } from './lateness.js'
import { Verification, verifyOutput, type VerifyInput, type VerifyReport, type VerifyRule } from './verify.js'

const W = 60_000
const t0 = Date.UTC(2026, 10, 22, 12, 0, 0)
/** When the raw records reached Kafka: after every event time below. */
const INGEST = t0 + 3 * W

let n = 0
const raw = (zone: string, type: string, ts: number | string, eventId = `e${n++}`, timestamp = INGEST) => ({
  value: Buffer.from(JSON.stringify({ eventId, rideId: `r-${eventId}`, zone, type, ts })),
  timestamp,
})

/** A lateness so long that none of the main input is late. */
const LENIENT: VerifyRule = { windowSizeMs: W, allowedLatenessMs: W, outOfOrdernessMs: 1_000 }

/** What an exact OpA writes for `records`: the valid ones, in this order, on one shard (shard 0, from offset 0). */
const oneShard = (records: { value: Buffer; timestamp: number }[]): InputEvent[][] => [
  records
    .flatMap((r) => {
      const p = parseRawEvent(r.value, r.timestamp)
      return p.ok ? [p.event] : []
    })
    .map((e, offset) => ({ ...e, offset })),
]

const verify = (over: Partial<VerifyInput> & Pick<VerifyInput, 'raw' | 'output'>) =>
  verifyOutput({ shardInputs: oneShard(over.raw as { value: Buffer; timestamp: number }[]), declaredLate: [], rule: LENIENT, ...over })

/**
 * Two windows of harbor, one of airport, spelled the way upstream does, plus
 * two refused records. Truth:
 *   harbor  @ t0      req 2, match 1, done 0, cancel 1
 *   harbor  @ t0 + W  req 1, match 1, done 1, cancel 0
 *   airport @ t0      req 1, match 0, done 0, cancel 0
 */
const input = [
  raw('harbor', 'requested', t0 + 1_000, 'h1'),
  raw('Harbor', 'REQUESTED', (t0 + 2_000) / 1000, 'h2'),
  raw(' HARBOR ', 'matched', new Date(t0 + 59_999).toISOString(), 'h3'),
  raw('harbor', 'canceled', t0 + 30_000, 'h4'),
  raw('harbor', 'requested', t0 + W, 'h5'),
  raw('harbor', 'matched', t0 + W + 1, 'h6'),
  raw('harbor', 'completed', t0 + 2 * W - 1, 'h7'),
  raw('Airport', 'requested', t0 + 5_000, 'a1'),
  raw('', 'requested', t0, 'bad-zone'),
  { value: Buffer.from('{"eventId":'), timestamp: t0 },
]

const out = (zone: string, start: number, c: [number, number, number, number], rev: number, final: boolean): OutputRecord => ({
  zone,
  windowStart: start,
  windowEnd: start + W,
  requested: c[0],
  matched: c[1],
  completed: c[2],
  cancelled: c[3],
  rev,
  final,
  emittedAt: start + W + 1_000,
})

/** What an exact pipeline writes: upserts, then one final per window. */
const exact: OutputRecord[] = [
  out('harbor', t0, [1, 0, 0, 0], 1, false),
  out('airport', t0, [1, 0, 0, 0], 1, false),
  out('harbor', t0, [2, 1, 0, 1], 2, false),
  out('harbor', t0 + W, [1, 1, 0, 0], 1, false),
  out('harbor', t0, [2, 1, 0, 1], 3, true),
  out('airport', t0, [1, 0, 0, 0], 2, true),
  out('harbor', t0 + W, [1, 1, 1, 0], 2, true),
]

const clean = { finals: 3, lost: 0, duplicated: 0, finalsTwice: 0, revViolations: 0, decreasing: 0, missingFinals: 0, unexpected: 0, missedLate: 0, unjustifiedLate: 0, inputMismatch: 0 }

const isFinalOf = (zone: string, start: number) => (o: OutputRecord) => o.final && o.zone === zone && o.windowStart === start

const replaceFinal = (zone: string, start: number, patch: Partial<OutputRecord>) => (o: OutputRecord[]) =>
  o.map((r) => (isFinalOf(zone, start)(r) ? { ...r, ...patch } : r))

describe('verifyOutput', () => {
  it('accepts the exact output and counts the input', () => {
    const r = verify({ raw: input, output: exact })
    const { truth, ...rest } = r
    expect(rest).toEqual({ ...clean, windows: 3, validEvents: 8, invalidEvents: 2, lateEvents: 0, lateByIdle: 0, ok: true, problems: [] })
    // The truth it checked against, per zone and window: what the board's test compares the page with.
    expect(truth.size).toBe(3)
    for (const o of exact.filter((x) => x.final)) {
      expect(truth.get(`${o.zone}|${o.windowStart}`)).toEqual({ requested: o.requested, matched: o.matched, completed: o.completed, cancelled: o.cancelled })
    }
  })

  it.each<[string, (o: OutputRecord[]) => OutputRecord[], Partial<VerifyReport>, RegExp]>([
    ['a final one count short', replaceFinal('harbor', t0 + W, { completed: 0 }), { lost: 1 }, /harbor @ .*12:01:00.*final rev 2 .*done 0 .* but truth .*done 1/],
    ['a final below an earlier upsert', replaceFinal('harbor', t0, { cancelled: 0 }), { lost: 1, decreasing: 1 }, /cancelled went down at rev 3/],
    ['a final one count over', replaceFinal('harbor', t0 + W, { completed: 2 }), { duplicated: 1 }, /final rev 2 .*done 2 .* but truth .*done 1/],
    ['a final one short and one over', replaceFinal('airport', t0, { requested: 0, matched: 1, rev: 3 }), { lost: 1, duplicated: 1, decreasing: 1 }, /requested went down/],
    ['a missing final', (o) => o.filter((r) => !isFinalOf('airport', t0)(r)), { finals: 2, lost: 1, missingFinals: 1 }, /airport .*no final; truth req 1.*last rev 1/],
    ['no output at all for a window', (o) => o.filter((r) => r.zone !== 'airport'), { finals: 2, lost: 1, missingFinals: 1 }, /no output at all/],
    ['a second, equal final', (o) => [...o, out('harbor', t0, [2, 1, 0, 1], 4, true)], { finals: 4, duplicated: 1, finalsTwice: 1 }, /2 finals \(revs 3, 4\)/],
    ['a second final replayed with the same rev', (o) => [...o, out('airport', t0, [1, 0, 0, 0], 2, true)], { finals: 4, duplicated: 1, finalsTwice: 1, revViolations: 1 }, /rev 2 after rev 2/],
    ['rev going back', (o) => o.map((r, i) => (i === 2 ? { ...r, rev: 1 } : r)), { revViolations: 1 }, /harbor .*rev 1 after rev 1/],
    ['counts going down before the final', (o) => o.map((r, i) => (i === 2 ? { ...r, requested: 5 } : r)), { decreasing: 1 }, /requested went down at rev 3/],
    ['a final for a window without events', (o) => [...o, out('stadium', t0, [1, 0, 0, 0], 1, true)], { finals: 4, unexpected: 1 }, /stadium .*without valid, non-late events/],
  ])('%s', (_name, mutate, expected, problem) => {
    const r = verify({ raw: input, output: mutate(exact) })
    expect(r).toMatchObject({ ...clean, ...expected, ok: false })
    expect(r.problems.join('\n')).toMatch(problem)
  })

  describe('lateness, decided from the shards\' input and the rule', () => {
    const rule: VerifyRule = { windowSizeMs: W, allowedLatenessMs: 5_000, outOfOrdernessMs: 1_000 }
    // e2 moves the watermark to t0 + W + 9 s: window t0 is final, and e3 after it is late.
    const lateInput = [raw('harbor', 'requested', t0 + 1_000, 'e1'), raw('harbor', 'matched', t0 + W + 10_000, 'e2'), raw('harbor', 'completed', t0 + 2_000, 'e3')]
    const lateOutput = [out('harbor', t0, [1, 0, 0, 0], 1, false), out('harbor', t0 + W, [0, 1, 0, 0], 1, false), out('harbor', t0, [1, 0, 0, 0], 2, true), out('harbor', t0 + W, [0, 1, 0, 0], 2, true)]
    const declared = (eventId: string, watermark: number): DeclaredLate => ({ eventId, watermark })

    it('leaves out an event the rule makes late and the pipeline declared late', () => {
      const r = verify({ raw: lateInput, output: lateOutput, rule, declaredLate: [declared('e3', t0 + W + 9_000)] })
      expect(r).toMatchObject({ ok: true, lateEvents: 1, lateByIdle: 0, missedLate: 0, unjustifiedLate: 0 })
    })

    it('catches an event the rule makes late that the pipeline counted', () => {
      const counted = lateOutput.map((o) => (o.windowStart === t0 && o.rev === 2 ? { ...o, completed: 1 } : o))
      const r = verify({ raw: lateInput, output: counted, rule })
      expect(r).toMatchObject({ ok: false, missedLate: 1, duplicated: 1 })
      expect(r.problems.join('\n')).toMatch(/e3 .* late by the rule .* but was counted/)
    })

    it('judges by the order of the input: an event before the one that closes its window is not late by the rule', () => {
      const reordered = [lateInput[0]!, lateInput[2]!, lateInput[1]!]
      const exactOutput = lateOutput.map((o) => (o.windowStart === t0 && o.rev === 2 ? { ...o, completed: 1 } : o))
      expect(verify({ raw: reordered, output: exactOutput, rule })).toMatchObject({ ok: true, lateEvents: 0 })
      // Declared late anyway, at a watermark only the wall clock could give: counted apart as late by idleness
      // (a run with steady traffic on every shard requires none).
      expect(verify({ raw: reordered, output: lateOutput, rule, declaredLate: [declared('e3', t0 + W + 9_000)] })).toMatchObject({ ok: true, lateEvents: 1, lateByIdle: 1 })
    })

    it('accepts a late decision only an idle watermark explains, and counts it apart', () => {
      // e1 alone: by events the watermark is t0; an idle advance to t0 + W + 5 s made e3's window final.
      const input2 = [lateInput[0]!, lateInput[2]!]
      const out2 = [out('harbor', t0, [1, 0, 0, 0], 1, false), out('harbor', t0, [1, 0, 0, 0], 2, true)]
      expect(verify({ raw: input2, output: out2, rule, declaredLate: [declared('e3', t0 + W + 5_000)] })).toMatchObject({ ok: true, lateEvents: 1, lateByIdle: 1 })
      // A watermark that has not passed the window's end plus the lateness explains nothing.
      expect(verify({ raw: input2, output: out2, rule, declaredLate: [declared('e3', t0 + W + 4_999)] })).toMatchObject({ ok: false, unjustifiedLate: 1 })
    })

    it('tells two copies of one event apart by their position: the late copy is the one declared late', () => {
      // An upstream that retried a send: e1 twice, the second copy after e2 closed its window.
      const twice = [...lateInput.slice(0, 2), raw('harbor', 'requested', t0 + 1_000, 'e1')]
      const output = [out('harbor', t0, [1, 0, 0, 0], 1, false), out('harbor', t0 + W, [0, 1, 0, 0], 1, false), out('harbor', t0, [1, 0, 0, 0], 2, true), out('harbor', t0 + W, [0, 1, 0, 0], 2, true)]
      const r = verify({ raw: twice, output, rule, declaredLate: [{ ...declared('e1', t0 + W + 9_000), shard: 0, offset: 2 }] })
      expect(r.problems).toEqual([])
      expect(r).toMatchObject({ ok: true, lateEvents: 1, lateByIdle: 0, validEvents: 3 })
    })

    it('reports a late record for an event no shard read', () => {
      const r = verify({ raw: lateInput, output: lateOutput, rule, declaredLate: [declared('e3', t0 + W + 9_000), declared('ghost', t0 + 2 * W)] })
      expect(r).toMatchObject({ ok: false, unjustifiedLate: 1 })
    })

    it('moves the watermark by an event\'s time no further than its ingest time', () => {
      // e2 stamped 10 s after it reached Kafka: it supports a watermark of its ingest time only, so e3 is not late.
      const skewed = [lateInput[0]!, raw('harbor', 'matched', t0 + W + 10_000, 'e2', t0 + W), lateInput[2]!]
      const r = verify({ raw: skewed, output: lateOutput.map((o) => (o.windowStart === t0 && o.rev === 2 ? { ...o, completed: 1 } : o)), rule })
      expect(r).toMatchObject({ ok: true, lateEvents: 0 })
    })
  })

  it('refuses an event stamped further ahead of its ingest time than allowed, as OpA does', () => {
    const ahead = [raw('harbor', 'requested', t0 + 1_000, 'ok', t0), raw('harbor', 'requested', t0 + 61_001, 'ahead', t0)]
    const r = verify({ raw: ahead, output: [out('harbor', t0, [1, 0, 0, 0], 1, true)] })
    expect(r).toMatchObject({ ok: true, validEvents: 1, invalidEvents: 1 })
  })

  it.each<[string, (e: RideEvent[][]) => RideEvent[][]]>([
    ['a valid event missing from the shards\' input', (e) => [e[0]!.slice(1)]],
    ['an event twice in the shards\' input', (e) => [[...e[0]!, e[0]![0]!]]],
    ['an event OpA normalized differently', (e) => [e[0]!.map((x, i) => (i === 0 ? { ...x, zone: 'harbour' } : x))]],
    ['an event with another id in the same window (equal counts)', (e) => [e[0]!.map((x, i) => (i === 0 ? { ...x, eventId: 'h1-other' } : x))]],
  ])('catches %s, and names the event', (_name, damage) => {
    const r = verify({ raw: input, output: exact, shardInputs: damage(oneShard(input)) })
    expect(r.ok).toBe(false)
    expect(r.inputMismatch).toBeGreaterThan(0)
    expect(r.problems.join('\n')).toMatch(/valid raw event h1\|harbor\|requested\|.* missing 1 time|shards' input holds 1 event\(s\) h1\|/)
  })

  describe('streamed, without the second reading', () => {
    const streamed = (shardInput: RideEvent[]) => {
      const v = new Verification(LENIENT, [])
      for (const r of input) v.addRaw(r.value, r.timestamp)
      for (const e of shardInput) v.addInput(0, e)
      for (const o of exact) v.addOutput(o)
      return { mismatched: v.mismatchedWindows(), report: v.finish() }
    }

    it('agrees with the arrays when the inputs match', () => {
      const { mismatched, report } = streamed(oneShard(input)[0]!)
      expect(mismatched.size).toBe(0)
      const { truth, ...rest } = report
      const { truth: want, ...wantRest } = verify({ raw: input, output: exact })
      expect(rest).toEqual(wantRest)
      expect(truth).toEqual(want)
    })

    it('tells the windows apart by count, and by fingerprint where the counts are equal', () => {
      const [first, ...others] = oneShard(input)[0]!
      const short = streamed(others)
      expect([...short.mismatched]).toEqual([[`harbor|${t0}`, { raw: 4, input: 3 }]])
      expect(short.report).toMatchObject({ ok: false, inputMismatch: 1 })
      expect(short.report.problems[0]).toBe(`harbor|${t0}: 4 valid raw event(s), 3 in the shards' input`)

      const renamed = streamed([{ ...first!, eventId: 'h1-other' }, ...others])
      expect([...renamed.mismatched]).toEqual([[`harbor|${t0}`, { raw: 4, input: 4 }]])
      expect(renamed.report).toMatchObject({ ok: false, inputMismatch: 1 })
      expect(renamed.report.problems[0]).toMatch(/not the same ones/)
    })
  })

  it('keeps only the first 20 problems but counts them all', () => {
    const many = Array.from({ length: 30 }, (_, i) => raw('zone-' + i, 'requested', t0))
    const r = verify({ raw: many, output: [] })
    expect(r).toMatchObject({ windows: 30, missingFinals: 30, lost: 30, ok: false })
    expect(r.problems).toHaveLength(20)
  })

  it('passes with no input and no output', () => {
    expect(verify({ raw: [], output: [] })).toMatchObject({ windows: 0, ok: true })
  })
})
