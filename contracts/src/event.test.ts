import { describe, expect, it } from 'vitest'
import { normalizeTimestamp, normalizeZone, parseRawEvent } from './event.js'

const at = Date.UTC(2026, 10, 22, 12, 0, 0)

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
