import { describe, expect, it } from 'vitest'
import { normalizeZone, parseRawEvent, RIDE_TYPES, type RideType } from '@ridepulse/contracts'
import { createRng, createTraffic, MALFORMED_KINDS, zoneNames, type GeneratedRecord, type TrafficOptions } from './generator.js'

const start = Date.UTC(2026, 10, 22, 12, 0, 0)
const base: TrafficOptions = { seed: 7, zones: 30, ratePerSec: 500, malformedFraction: 0.05, maxDisorderMs: 5_000, startMs: start }

/** Drives the traffic over `durationMs` of clock in ticks of `tickMs`. */
function run(opts: TrafficOptions, durationMs: number, tickMs = 100): GeneratedRecord[] {
  const t = createTraffic(opts)
  const out: GeneratedRecord[] = []
  for (let now = opts.startMs + tickMs; now < opts.startMs + durationMs; now += tickMs) out.push(...t.next(now))
  out.push(...t.next(opts.startMs + durationMs))
  return out
}

const minute = run(base, 60_000)
const valid = minute.filter((r) => r.valid)
const malformed = minute.filter((r) => !r.valid)

describe('createRng', () => {
  it('repeats for a seed and differs between seeds', () => {
    const draw = (seed: number) => {
      const r = createRng(seed)
      return Array.from({ length: 5 }, () => r.float())
    }
    expect(draw(1)).toEqual(draw(1))
    expect(draw(1)).not.toEqual(draw(2))
  })

  it('stays in [0, 1) with a mean near one half', () => {
    const r = createRng(99)
    let sum = 0
    for (let i = 0; i < 100_000; i++) {
      const x = r.float()
      expect(x >= 0 && x < 1).toBe(true)
      sum += x
    }
    expect(sum / 100_000).toBeCloseTo(0.5, 2)
  })
})

describe('zoneNames', () => {
  it.each([
    [1, ['downtown']],
    [3, ['downtown', 'airport', 'central-station']],
  ])('%i zones are %j', (n, names) => expect(zoneNames(n)).toEqual(names))

  it('suffixes the districts with a number beyond the list, all distinct and already normalized', () => {
    const names = zoneNames(100)
    expect(new Set(names).size).toBe(100)
    expect(names).toContain('harbor-2')
    expect(names).toContain('downtown-3')
    for (const n of names) expect(normalizeZone(n)).toBe(n)
  })
})

describe('createTraffic', () => {
  it('gives the same records for the same seed and clock readings, and others for another seed', () => {
    expect(run(base, 5_000)).toEqual(run(base, 5_000))
    expect(run({ ...base, seed: 8 }, 5_000).map((r) => r.value)).not.toEqual(run(base, 5_000).map((r) => r.value))
  })

  it.each([500, 333, 1_234.5])('at %d records/s gives the same records however often the clock is read', (ratePerSec) => {
    const opts = { ...base, ratePerSec }
    expect(run(opts, 12_000, 37).map((r) => r.value)).toEqual(run(opts, 12_000, 1_000).map((r) => r.value))
  })

  it.each([
    // rate per second, tick ms
    [500, 100],
    [3.7, 250],
    [1_234.5, 17],
    [20, 1_000],
  ])('honours %d records/s over a simulated minute with %i ms ticks', (ratePerSec, tickMs) => {
    const n = run({ ...base, ratePerSec }, 60_000, tickMs).length
    const expected = ratePerSec * 60
    expect(Math.abs(n - expected)).toBeLessThanOrEqual(Math.max(1, expected * 0.01))
  })

  it('keeps the long-run rate exact over uneven ticks', () => {
    const t = createTraffic({ ...base, ratePerSec: 333 })
    const r = createRng(5)
    let now = start
    let n = 0
    while (now < start + 60_000) {
      now = Math.min(start + 60_000, now + 1 + r.int(300))
      n += t.next(now).length
    }
    expect(n).toBe(Math.floor(333 * 60))
  })

  it('returns nothing when the clock does not move forward', () => {
    const t = createTraffic(base)
    expect(t.next(start + 1_000)).toHaveLength(500)
    expect(t.next(start + 1_000)).toEqual([])
    expect(t.next(start + 500)).toEqual([])
  })

  it.each([
    ['zones', { zones: 0 }],
    ['ratePerSec', { ratePerSec: 0 }],
    ['malformedFraction', { malformedFraction: 1.5 }],
    ['maxDisorderMs', { maxDisorderMs: -1 }],
  ])('refuses a bad %s', (what, patch) => {
    expect(() => createTraffic({ ...base, ...patch })).toThrow(new RegExp(what))
  })

  it('keeps each ride on one key, in one zone, in lifecycle order with event time never going back', () => {
    const allowed: Record<RideType, RideType[]> = {
      requested: ['matched', 'cancelled'],
      matched: ['completed', 'cancelled'],
      completed: [],
      cancelled: [],
    }
    const rides = new Map<string, { type: RideType; zone: string; ts: number }>()
    for (const r of valid) {
      expect(r.key).toBe(r.event.rideId)
      const prev = rides.get(r.event.rideId)
      if (prev === undefined) expect(r.event.type).toBe('requested')
      else {
        expect(allowed[prev.type]).toContain(r.event.type)
        expect(r.event.zone).toBe(prev.zone)
        expect(r.event.ts).toBeGreaterThanOrEqual(prev.ts)
      }
      rides.set(r.event.rideId, r.event)
    }
    // A minute of traffic finishes most rides that started in its first half.
    const ended = [...rides.values()].filter((r) => r.type === 'completed' || r.type === 'cancelled').length
    expect(ended / rides.size).toBeGreaterThan(0.3)
  })

  it('produces the four types in realistic proportions', () => {
    const long = run({ ...base, malformedFraction: 0 }, 600_000, 1_000).filter((r) => r.valid)
    const by = Object.fromEntries(RIDE_TYPES.map((t) => [t, long.filter((r) => r.event.type === t).length])) as Record<RideType, number>
    expect(by.matched / by.requested).toBeGreaterThan(0.75)
    expect(by.matched / by.requested).toBeLessThan(0.9)
    expect(by.completed / by.matched).toBeGreaterThan(0.8)
    expect(by.cancelled / by.requested).toBeGreaterThan(0.15)
    expect(by.cancelled / by.requested).toBeLessThan(0.35)
  })

  it('keeps event time within the allowed disorder of the clock', () => {
    const t = createTraffic(base)
    for (let now = start + 100; now <= start + 30_000; now += 100) {
      for (const r of t.next(now)) {
        if (!r.valid) continue
        expect(r.event.ts).toBeLessThanOrEqual(now)
        expect(r.event.ts).toBeGreaterThanOrEqual(now - 100 - base.maxDisorderMs)
      }
    }
  })

  it('makes a few zones run hot: the hottest well above the median', () => {
    const perZone = new Map<string, number>()
    for (const r of valid) perZone.set(r.event.zone, (perZone.get(r.event.zone) ?? 0) + 1)
    const counts = [...perZone.values()].sort((a, b) => a - b)
    const median = counts[Math.floor(counts.length / 2)] as number
    expect(counts.at(-1)).toBeGreaterThan(5 * median)
  })

  it('gives every event a unique id and every ride a unique id', () => {
    const ids = minute.map((r) => (r.valid ? r.event.eventId : undefined)).filter(Boolean)
    expect(new Set(ids).size).toBe(ids.length)
    const requests = valid.filter((r) => r.event.type === 'requested').map((r) => r.event.rideId)
    expect(new Set(requests).size).toBe(requests.length)
  })

  it('spells zones, types and times in many ways', () => {
    const spellings = new Set<string>()
    const typeSpellings = new Set<string>()
    const tsKinds = new Set<string>()
    for (const r of valid) {
      const raw = JSON.parse(r.value) as { zone: string; type: string; ts: unknown }
      if (r.event.zone === 'old-town') spellings.add(raw.zone)
      typeSpellings.add(raw.type)
      tsKinds.add(typeof raw.ts === 'number' ? (raw.ts < 1e11 ? 'seconds' : 'ms') : /^\d+$/.test(raw.ts as string) ? 'seconds-string' : 'iso')
    }
    expect(spellings.size).toBeGreaterThan(4)
    expect(typeSpellings).toContain('canceled')
    expect(typeSpellings).toContain('REQUESTED')
    expect([...tsKinds].sort()).toEqual(['iso', 'ms', 'seconds', 'seconds-string'])
  })
})

describe('what parseRawEvent makes of the generated records', () => {
  it.each([
    ['default traffic', base],
    ['no disorder', { ...base, maxDisorderMs: 0, seed: 11 }],
    ['many zones, large disorder', { ...base, zones: 200, maxDisorderMs: 60_000, seed: 12 }],
  ])('%s: every valid record parses to the intended event', (_name, opts) => {
    for (const r of run(opts, 20_000)) {
      if (!r.valid) continue
      // Sent once due: its record's timestamp is never before its event time.
      const p = parseRawEvent(r.value, r.event.ts)
      expect(p.ok ? { ...p.event, ingestMs: undefined } : p).toEqual({ ...r.event, ingestMs: undefined })
    }
  })

  it('every malformed record is refused', () => {
    const refused = run({ ...base, malformedFraction: 0.5 }, 20_000).filter((r) => !r.valid)
    expect(refused.length).toBeGreaterThan(1_000)
    for (const r of refused) expect({ value: r.value, result: parseRawEvent(r.value, 0).ok }).toEqual({ value: r.value, result: false })
  })

  it('has every kind of flaw', () => {
    expect(new Set(malformed.map((r) => (r.valid ? '' : r.flaw)))).toEqual(new Set(MALFORMED_KINDS))
  })

  it.each([0, 0.01, 0.05, 0.3])('malformed fraction %d is met within tolerance', (fraction) => {
    const records = run({ ...base, malformedFraction: fraction }, 60_000)
    const bad = records.filter((r) => !r.valid).length
    expect(Math.abs(bad / records.length - fraction)).toBeLessThanOrEqual(0.1 * fraction + 0.002)
  })
})
