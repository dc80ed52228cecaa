import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeEvent, normalizeTimestamp, normalizeZone, parseRawEvent, validFields } from './event.js'

const at = Date.UTC(2026, 10, 22, 12, 0, 0)
const MIN = Date.UTC(1999, 0, 1)
const MAX = Date.UTC(2101, 0, 1)

describe('normalizeZone', () => {
  it.each([
    ['Downtown', 'downtown'],
    ['  Old_Town ', 'old-town'],
    ['AIRPORT  T2', 'airport-t2'],
    ['São Paulo', 'sao-paulo'],
    ['north--east', 'north-east'],
  ])('%j becomes %j', (raw, zone) => expect(normalizeZone(raw)).toBe(zone))
})

describe('normalizeTimestamp', () => {
  it.each([
    [at, at],
    [at / 1000, at],
    [String(at / 1000), at],
    [new Date(at).toISOString(), at],
    ['2026-11-22T13:00:00+01:00', at],
    [12, undefined],
    ['yesterday', undefined],
    [null, undefined],
    [Number.NaN, undefined],
  ])('%j is %j ms', (raw, ms) => expect(normalizeTimestamp(raw)).toBe(ms))
})

describe('parseRawEvent', () => {
  const good = { eventId: 'e1', rideId: 'r1', zone: ' Harbor ', type: 'Canceled', ts: at / 1000 }

  it('normalizes zone, type and time and keeps the ingest time', () => {
    expect(parseRawEvent(JSON.stringify(good), at + 5)).toEqual({
      ok: true,
      event: { eventId: 'e1', rideId: 'r1', zone: 'harbor', type: 'cancelled', ts: at, ingestMs: at + 5 },
    })
  })

  it.each([
    ['behind its ingest time by a day', at + 86_400_000, undefined, true],
    ['ahead of its ingest time by the default skew', at - 60_000, undefined, true],
    ['ahead by one millisecond more', at - 60_001, undefined, false],
    ['ahead by 10 s with a skew of 5 s', at - 10_000, 5_000, false],
    ['ahead by 10 s with a skew of 10 s', at - 10_000, 10_000, true],
  ])('an event %s is %s', (_what, ingestMs, skew, ok) => {
    const r = parseRawEvent(JSON.stringify(good), ingestMs, skew)
    expect(r.ok).toBe(ok)
    if (!r.ok) expect(r).toMatchObject({ code: 'future-event-time', reason: expect.stringMatching(/MAX_FUTURE_SKEW_MS/) })
  })

  it('refuses an event stamped 2099 with the reason, however valid it looks', () => {
    const r = parseRawEvent(JSON.stringify({ ...good, ts: '2099-06-01T00:00:00Z' }), at)
    expect(r).toMatchObject({ ok: false, code: 'future-event-time', reason: expect.stringMatching(/2099-06-01T00:00:00.000Z is \d+ ms after the record's ingest time 2026-11-22T12:00:00.000Z/) })
  })

  it.each([
    [null, /empty/],
    ['{"eventId":', /invalid JSON/],
    ['[1,2]', /JSON object/],
    [JSON.stringify({ ...good, type: 'teleported' }), /type: type must be one of/],
    [JSON.stringify({ ...good, zone: '---' }), /zone/],
    [JSON.stringify({ ...good, ts: 'soon' }), /ts: ts must be/],
    [JSON.stringify({ rideId: 'r', zone: 'a', type: 'matched', ts: at }), /eventId: missing/],
  ])('refuses %j with a reason', (raw, reason) => {
    const r = parseRawEvent(raw, at)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r).toMatchObject({ code: 'malformed', reason: expect.stringMatching(reason) })
  })
})

describe('parseRawEvent\'s fast path gives the schema\'s result', () => {
  const ws = fc.constantFrom('', ' ', '  ', '\t', '\n', '\u00a0', '\u2003', '\ufeff')
  const padded = (s: fc.Arbitrary<string>) => fc.tuple(ws, s, ws).map(([a, b, c]) => a + b + c)
  const messyText = fc.string({ unit: fc.constantFrom(...'aAzZ09-_ ./\\é\u0301ÅßøÇ\u00a0\t-', '\u{1f695}', 'İ', 'ﬁ', 'Ⅻ', '²'), maxLength: 140 })
  const normalZone = fc.stringMatching(/^[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,6}$/)
  const other = fc.oneof(fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}), fc.double())
  const id = fc.oneof(
    { arbitrary: fc.string({ maxLength: 10 }).map((s) => `e-${s}`), weight: 6 },
    padded(fc.string({ maxLength: 135 })),
    fc.integer({ min: -5, max: 2 ** 31 }),
    fc.constantFrom(0, -0, 1.5, 2 ** 53 - 1, 2 ** 53, 2 ** 60, Number.POSITIVE_INFINITY, -1),
    other,
  )
  const zone = fc.oneof({ arbitrary: normalZone, weight: 6 }, padded(normalZone.map((z) => z.toUpperCase())), messyText, fc.string({ minLength: 60, maxLength: 140 }), fc.constantFrom('a--b', '-a', 'a-', 'A', 'São Paulo', '---', ''), other)
  const type = fc.oneof(
    { arbitrary: fc.constantFrom('requested', 'request', 'matched', 'match', 'assigned', 'completed', 'complete', 'finished', 'cancelled', 'canceled', 'cancel'), weight: 6 },
    padded(fc.constantFrom('Requested', 'MATCHED', 'Canceled', 'complete')),
    fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', ''),
    fc.string({ maxLength: 12 }),
    other,
  )
  const ts = fc.oneof(
    { arbitrary: fc.integer({ min: MIN, max: MAX }), weight: 6 },
    fc.integer({ min: MIN / 1000, max: MAX / 1000 }),
    fc.double({ min: 0, max: 5e12, noNaN: true }),
    fc.integer({ min: MIN, max: MAX }).map((ms) => new Date(ms).toISOString()),
    fc.integer({ min: MIN / 1000, max: MAX / 1000 }).map(String),
    fc.constantFrom('soon', '', ' 1700000000 ', '2026-13-01', '1e12', -1, 1e11, 1e11 - 1),
    other,
  )
  const raw = fc.record(
    { eventId: id, rideId: id, zone, type, ts, extra: fc.string({ maxLength: 5 }), __proto__: fc.constant({ ok: true }) },
    { requiredKeys: ['eventId', 'rideId', 'zone', 'type', 'ts'] },
  )
  // Mostly late enough that the event's time is not in its future, so the fast path's own case comes often.
  const ingest = fc.oneof({ arbitrary: fc.constant(MAX), weight: 3 }, fc.integer({ min: MIN, max: MAX }))

  it('on generated messy events, byte for byte', () => {
    let byFastPath = 0
    fc.assert(
      fc.property(raw, fc.boolean(), ingest, fc.nat(), (r, dropOne, ingestMs, which) => {
        const obj: Record<string, unknown> = { ...r }
        if (dropOne) delete obj[Object.keys(obj)[which % Object.keys(obj).length]!]
        const text = JSON.stringify(obj)
        const fast = parseRawEvent(text, ingestMs, 60_000)
        const schema = parseRawEvent(text, ingestMs, 60_000, true)
        if (validFields(JSON.parse(text) as Record<string, unknown>)) byFastPath++
        expect(JSON.stringify(fast)).toBe(JSON.stringify(schema))
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 20_000) },
    )
    // Not vacuous: the fast path decided a good share of the input itself.
    expect(byFastPath).toBeGreaterThan(2000)
  })
})

describe('decodeEvent\'s hand check gives the enriched schema\'s result', () => {
  const anything = fc.oneof(fc.constant(null), fc.boolean(), fc.string({ maxLength: 6 }), fc.integer(), fc.double(), fc.constant([]), fc.constant({}))
  const num = fc.oneof(fc.integer({ min: MIN, max: MAX }), fc.constantFrom(1.5, -1, 0, -0, 2 ** 53 - 1, 2 ** 53, 2 ** 60), fc.double(), anything)
  const str = fc.oneof({ arbitrary: fc.string({ maxLength: 8 }), weight: 4 }, anything)
  const type = fc.oneof({ arbitrary: fc.constantFrom('requested', 'matched', 'completed', 'cancelled'), weight: 4 }, fc.constantFrom('cancel', 'Matched', 'constructor', '__proto__'), anything)
  const event = fc.record({ eventId: str, rideId: str, zone: str, type, ts: num, ingestMs: num, extra: anything }, { requiredKeys: ['eventId', 'rideId', 'zone', 'type', 'ts', 'ingestMs'] })

  it('on generated records, byte for byte', () => {
    let decoded = 0
    fc.assert(
      fc.property(fc.oneof({ arbitrary: event.map((e) => JSON.stringify(e)), weight: 8 }, fc.constantFrom('[]', 'null', '7', '"x"', '{"ts":1e400}', '{'), fc.string()), (text) => {
        const fast = decodeEvent(Buffer.from(text))
        if (fast) decoded++
        expect(JSON.stringify(fast)).toBe(JSON.stringify(decodeEvent(Buffer.from(text), true)))
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 20_000) },
    )
    expect(decoded).toBeGreaterThan(1000)
  })
})
