import { describe, expect, it } from 'vitest'
import type { OutputRecord } from './records.js'
import { verifyOutput, type VerifyReport } from './verify.js'

const W = 60_000
const t0 = Date.UTC(2026, 10, 22, 12, 0, 0)

let n = 0
const raw = (zone: string, type: string, ts: number | string, eventId = `e${n++}`) => ({
  value: Buffer.from(JSON.stringify({ eventId, rideId: `r-${eventId}`, zone, type, ts })),
  timestamp: t0,
})

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

const clean = { finals: 3, lost: 0, duplicated: 0, finalsTwice: 0, revViolations: 0, decreasing: 0, missingFinals: 0, unexpected: 0 }

const isFinalOf = (zone: string, start: number) => (o: OutputRecord) => o.final && o.zone === zone && o.windowStart === start

const replaceFinal = (zone: string, start: number, patch: Partial<OutputRecord>) => (o: OutputRecord[]) =>
  o.map((r) => (isFinalOf(zone, start)(r) ? { ...r, ...patch } : r))

describe('verifyOutput', () => {
  it('accepts the exact output and counts the input', () => {
    const r = verifyOutput({ raw: input, lateEventIds: [], output: exact, windowSizeMs: W })
    const { truth, ...rest } = r
    expect(rest).toEqual({ ...clean, windows: 3, validEvents: 8, invalidEvents: 2, lateEvents: 0, ok: true, problems: [] })
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
    const r = verifyOutput({ raw: input, lateEventIds: [], output: mutate(exact), windowSizeMs: W })
    expect(r).toMatchObject({ ...clean, ...expected, ok: false })
    expect(r.problems.join('\n')).toMatch(problem)
  })

  it.each<[string, string[], Partial<VerifyReport>]>([
    ['a late event makes its window smaller', ['h4'], { windows: 3, lateEvents: 1 }],
    ['late events can empty a window', ['a1'], { windows: 2, lateEvents: 1 }],
    ['ids of refused or unknown events change nothing', ['bad-zone', 'nope'], { windows: 3, lateEvents: 0 }],
  ])('%s', (_name, lateIds, expected) => {
    const output = exact
      .map((o) => (lateIds.includes('h4') && o.zone === 'harbor' && o.windowStart === t0 && o.rev >= 2 ? { ...o, cancelled: 0 } : o))
      .filter((o) => !(lateIds.includes('a1') && o.zone === 'airport'))
    const r = verifyOutput({ raw: input, lateEventIds: new Set(lateIds), output, windowSizeMs: W })
    expect(r).toMatchObject({ ...expected, validEvents: 8, lost: 0, duplicated: 0, ok: true })
  })

  it('counts a late event the output still holds as duplicated', () => {
    const r = verifyOutput({ raw: input, lateEventIds: ['h4'], output: exact, windowSizeMs: W })
    expect(r).toMatchObject({ duplicated: 1, lost: 0, lateEvents: 1, ok: false })
  })

  it('keeps only the first 20 problems but counts them all', () => {
    const many = Array.from({ length: 30 }, (_, i) => raw('zone-' + i, 'requested', t0))
    const r = verifyOutput({ raw: many, lateEventIds: [], output: [], windowSizeMs: W })
    expect(r).toMatchObject({ windows: 30, missingFinals: 30, lost: 30, ok: false })
    expect(r.problems).toHaveLength(20)
  })

  it('passes with no input and no output', () => {
    expect(verifyOutput({ raw: [], lateEventIds: [], output: [], windowSizeMs: W })).toMatchObject({ windows: 0, ok: true })
  })
})
