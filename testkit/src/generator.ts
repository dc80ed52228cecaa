import type { RideType } from '@ridepulse/contracts'

/**
 * Synthetic city traffic for the raw `orders` topic: rides that live through
 * their lifecycle, demand skewed towards a few hot zones, the spelling mess a
 * real upstream produces, and a share of records that must be refused.
 * Deterministic for a seed and a sequence of clock readings.
 */

// ---------------------------------------------------------------- random

export interface Rng {
  /** Uniform in [0, 1). */
  float(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

/** A small seeded PRNG: a 32-bit Weyl sequence scrambled by an xorshift-multiply finalizer. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0
  const float = (): number => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
    z ^= z >>> 15
    return (z >>> 0) / 0x1_0000_0000
  }
  const int = (n: number): number => Math.floor(float() * n)
  return {
    float,
    int,
    between: (lo, hi) => lo + float() * (hi - lo),
    pick: (items) => {
      const item = items[int(items.length)]
      if (item === undefined) throw new RangeError('pick from an empty list')
      return item
    },
    chance: (p) => float() < p,
  }
}

// ---------------------------------------------------------------- zones

/** Busiest first: with Zipf demand the head of the list runs hot. */
const DISTRICTS = [
  'downtown', 'airport', 'central-station', 'old-town', 'harbor', 'university', 'financial-district', 'riverside',
  'midtown', 'stadium', 'chinatown', 'west-end', 'east-village', 'market-square', 'north-beach', 'hillside',
  'lakeside', 'docklands', 'canal-quarter', 'museum-mile', 'south-bank', 'belem', 'lavapies', 'kreuzberg',
  'little-italy', 'garden-city', 'tech-park', 'fairgrounds', 'cathedral', 'old-port', 'green-valley', 'eastgate',
  'westgate', 'northfield', 'southside', 'industrial-zone', 'botanic-garden', 'racecourse', 'bay-view', 'castle-hill',
]

/** Spellings with accents a real upstream sends; normalizeZone strips them. */
const ACCENTED: Record<string, string> = { belem: 'Belém', lavapies: 'Lavapiés' }

/** `n` canonical zone names: the districts, then `harbor-2`-style repeats. */
export function zoneNames(n: number): string[] {
  const names: string[] = []
  for (let i = 0; i < n; i++) {
    const base = DISTRICTS[i % DISTRICTS.length] as string
    const round = Math.floor(i / DISTRICTS.length)
    names.push(round === 0 ? base : `${base}-${round + 1}`)
  }
  return names
}

const ZIPF_EXPONENT = 1.1

/** Cumulative Zipf weights over ranks 0..n-1, normalized to end at 1. */
function zipfCdf(n: number): number[] {
  const w = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** ZIPF_EXPONENT)
  const total = w.reduce((a, b) => a + b, 0)
  let acc = 0
  return w.map((x) => (acc += x / total))
}

function sampleCdf(cdf: readonly number[], u: number): number {
  let lo = 0
  let hi = cdf.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((cdf[mid] as number) > u) hi = mid
    else lo = mid + 1
  }
  return lo
}

function titleCase(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1)
}

/** One of the ways upstream systems spell a zone; all normalize back to `zone`. */
function spellZone(rng: Rng, zone: string): string {
  const accented = ACCENTED[zone]
  if (accented !== undefined && rng.chance(0.3)) return accented
  const words = zone.split('-')
  const roll = rng.float()
  if (roll < 0.6) return zone
  if (roll < 0.72) return words.map(titleCase).join(' ')
  if (roll < 0.8) return ` ${words.join('_').toUpperCase()} `
  if (roll < 0.86) return words.map(titleCase).join('-')
  if (roll < 0.91) return words.join('_')
  if (roll < 0.95) return words.join('.')
  return `  ${words.join('  ')}\t`
}

// ---------------------------------------------------------------- lifecycle

interface Step {
  type: RideType
  /** Delay of this step after the previous one, event time, ms. */
  minDelayMs: number
  maxDelayMs: number
}

/** What may follow each type, with its probability and delay. */
const NEXT: Record<RideType, Array<Step & { p: number }>> = {
  requested: [
    { type: 'matched', p: 0.84, minDelayMs: 2_000, maxDelayMs: 20_000 },
    { type: 'cancelled', p: 0.16, minDelayMs: 5_000, maxDelayMs: 45_000 },
  ],
  matched: [
    { type: 'completed', p: 0.92, minDelayMs: 10_000, maxDelayMs: 50_000 },
    { type: 'cancelled', p: 0.08, minDelayMs: 3_000, maxDelayMs: 25_000 },
  ],
  completed: [],
  cancelled: [],
}

function nextStep(rng: Rng, after: RideType): Step | undefined {
  const options = NEXT[after]
  let u = rng.float()
  for (const o of options) {
    if (u < o.p) return o
    u -= o.p
  }
  return options[options.length - 1]
}

interface Ride {
  rideId: string
  zone: string
  type: RideType
  /** Event time of the ride's last event: later events never go before it. */
  lastTs: number
  /** Emission time at which the ride's next event is due. */
  dueMs: number
  /** Tie-break for equal due times, so the order never depends on the heap's shape. */
  seq: number
}

/** A binary min-heap of rides waiting for their next event, by due time. */
class DueQueue {
  readonly #items: Ride[] = []

  get size(): number {
    return this.#items.length
  }

  #less(a: Ride, b: Ride): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq)
  }

  peek(): Ride | undefined {
    return this.#items[0]
  }

  push(r: Ride): void {
    const a = this.#items
    a.push(r)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(a[i] as Ride, a[parent] as Ride)) break
      ;[a[i], a[parent]] = [a[parent] as Ride, a[i] as Ride]
      i = parent
    }
  }

  pop(): Ride | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.#less(a[l] as Ride, a[m] as Ride)) m = l
        if (r < a.length && this.#less(a[r] as Ride, a[m] as Ride)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m] as Ride, a[i] as Ride]
        i = m
      }
    }
    return top
  }
}

// ---------------------------------------------------------------- encoding

function spellType(rng: Rng, type: RideType): string {
  const base = type === 'cancelled' && rng.chance(0.4) ? 'canceled' : type
  const roll = rng.float()
  if (roll < 0.7) return base
  if (roll < 0.82) return titleCase(base)
  if (roll < 0.92) return base.toUpperCase()
  return ` ${base} `
}

/** An ISO-8601 string of `ms` in a fixed offset from UTC, e.g. `2026-11-22T13:00:00.000+01:00`. */
function isoWithOffset(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, -1)
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/**
 * Picks how `ts` is written and the event time it stands for. Epoch seconds
 * carry no milliseconds, so they are used only when a whole second lies in
 * [lo, hi]; fractional seconds would come back off by one after float math.
 */
function spellTs(rng: Rng, ts: number, lo: number, hi: number): { raw: number | string; ms: number } {
  const roll = rng.float()
  if (roll < 0.3) {
    const down = Math.floor(ts / 1000) * 1000
    const s = down >= lo ? down : down + 1000 <= hi ? down + 1000 : undefined
    if (s !== undefined) return { raw: roll < 0.24 ? s / 1000 : String(s / 1000), ms: s }
  }
  if (roll < 0.7) return { raw: ts, ms: ts }
  if (roll < 0.9) return { raw: new Date(ts).toISOString(), ms: ts }
  return { raw: isoWithOffset(ts, rng.pick([-300, -180, 60, 120, 330])), ms: ts }
}

// ---------------------------------------------------------------- malformed

export const MALFORMED_KINDS = ['broken-json', 'missing-field', 'unknown-type', 'bad-timestamp', 'empty-zone', 'not-an-object'] as const
export type MalformedKind = (typeof MALFORMED_KINDS)[number]

const UNKNOWN_TYPES = ['teleported', 'pending', 'REFUNDED', '', 'requested!', 'en-route']
const BAD_TIMESTAMPS: unknown[] = ['soon', 'yesterday', '', -1, 0, 12, '12', 1e15, '2026-13-45T99:00:00Z', null, true, {}]
const EMPTY_ZONES = ['', '   ', '---', '_', ' . ']
const NOT_OBJECTS = ['[1,2,3]', 'null', '42', '"requested"', '']

function malformedValue(rng: Rng, kind: MalformedKind, valid: Record<string, unknown>): string {
  switch (kind) {
    case 'broken-json': {
      const text = JSON.stringify(valid)
      // Every proper, non-empty prefix of a JSON object misses its closing brace.
      return text.slice(0, 1 + rng.int(text.length - 1))
    }
    case 'missing-field': {
      const { [rng.pick(['eventId', 'rideId', 'zone', 'type', 'ts'])]: _dropped, ...rest } = valid
      return JSON.stringify(rest)
    }
    case 'unknown-type':
      return JSON.stringify({ ...valid, type: rng.pick(UNKNOWN_TYPES) })
    case 'bad-timestamp':
      return JSON.stringify({ ...valid, ts: rng.pick(BAD_TIMESTAMPS) })
    case 'empty-zone':
      return JSON.stringify({ ...valid, zone: rng.pick(EMPTY_ZONES) })
    case 'not-an-object':
      return rng.pick(NOT_OBJECTS)
  }
}

// ---------------------------------------------------------------- traffic

export interface TrafficOptions {
  seed: number
  /** Number of zones; names from zoneNames(). */
  zones: number
  /** Records per second of the clock, malformed ones included. */
  ratePerSec: number
  /** Share of records that must be refused, in [0, 1]. */
  malformedFraction: number
  /** Event time lags the clock by a random amount in [0, maxDisorderMs]. */
  maxDisorderMs: number
  /** Clock reading at which the traffic starts. */
  startMs: number
}

/** What a valid record stands for once normalized. */
export interface IntendedEvent {
  eventId: string
  rideId: string
  zone: string
  type: RideType
  ts: number
}

export type GeneratedRecord =
  | { key: string; value: string; valid: true; event: IntendedEvent }
  | { key: string; value: string; valid: false; flaw: MalformedKind }

export interface TrafficStats {
  emitted: number
  valid: number
  malformed: number
  ridesStarted: number
  /** Rides waiting for their next event. */
  ridesOpen: number
}

export interface Traffic {
  /** The records due between the previous call (or startMs) and `nowMs`, oldest first. */
  next(nowMs: number): GeneratedRecord[]
  readonly stats: TrafficStats
  readonly zones: readonly string[]
}

function checkOptions(o: TrafficOptions): void {
  const bad = (what: string): never => {
    throw new RangeError(`traffic option ${what}`)
  }
  if (!Number.isInteger(o.zones) || o.zones < 1) bad(`zones must be a positive integer, got ${o.zones}`)
  if (!Number.isFinite(o.ratePerSec) || o.ratePerSec <= 0) bad(`ratePerSec must be positive, got ${o.ratePerSec}`)
  if (!(o.malformedFraction >= 0 && o.malformedFraction <= 1)) bad(`malformedFraction must be in [0, 1], got ${o.malformedFraction}`)
  if (!Number.isFinite(o.maxDisorderMs) || o.maxDisorderMs < 0) bad(`maxDisorderMs must be >= 0, got ${o.maxDisorderMs}`)
  if (!Number.isFinite(o.startMs)) bad(`startMs must be finite, got ${o.startMs}`)
  if (!Number.isFinite(o.seed)) bad(`seed must be finite, got ${o.seed}`)
}

export function createTraffic(opts: TrafficOptions): Traffic {
  checkOptions(opts)
  const rng = createRng(opts.seed)
  const zones = zoneNames(opts.zones)
  const cdf = zipfCdf(zones.length)
  const open = new DueQueue()
  const stats: TrafficStats = { emitted: 0, valid: 0, malformed: 0, ridesStarted: 0, ridesOpen: 0 }
  let eventCounter = 0
  let rideSeq = 0
  let lastNow = opts.startMs
  const msPerRecord = 1000 / opts.ratePerSec

  const pickZone = (): string => zones[sampleCdf(cdf, rng.float())] as string

  const encode = (ride: Ride, at: number): GeneratedRecord => {
    // Event time: the clock minus a bounded disorder, never before the ride's previous event.
    const lo = Math.max(at - opts.maxDisorderMs, ride.lastTs)
    const ts = Math.max(lo, at - Math.round(rng.float() * opts.maxDisorderMs))
    const t = spellTs(rng, ts, lo, at)
    ride.lastTs = t.ms
    const eventId = `${opts.seed}-${eventCounter++}`
    const value = JSON.stringify({ eventId, rideId: ride.rideId, zone: spellZone(rng, ride.zone), type: spellType(rng, ride.type), ts: t.raw })
    return { key: ride.rideId, value, valid: true, event: { eventId, rideId: ride.rideId, zone: ride.zone, type: ride.type, ts: t.ms } }
  }

  /** The next valid event: a ride whose next step is due, else a new request. */
  const validAt = (at: number): GeneratedRecord => {
    const due = open.peek()
    let ride: Ride
    if (due && due.dueMs <= at) {
      open.pop()
      ride = due
    } else {
      const rideId = `r${opts.seed}-${stats.ridesStarted++}`
      ride = { rideId, zone: pickZone(), type: 'requested', lastTs: -Infinity, dueMs: at, seq: rideSeq++ }
    }
    const record = encode(ride, at)
    const step = nextStep(rng, ride.type)
    if (step) {
      ride.type = step.type
      ride.dueMs = at + Math.round(rng.between(step.minDelayMs, step.maxDelayMs))
      ride.seq = rideSeq++
      open.push(ride)
    }
    return record
  }

  const malformedAt = (at: number): GeneratedRecord => {
    const kind = rng.pick(MALFORMED_KINDS)
    const rideId = `x${opts.seed}-${eventCounter}`
    const plausible = { eventId: `${opts.seed}-${eventCounter++}`, rideId, zone: pickZone(), type: rng.pick(['requested', 'matched', 'completed', 'cancelled']), ts: at }
    return { key: rideId, value: malformedValue(rng, kind, plausible), valid: false, flaw: kind }
  }

  return {
    zones,
    get stats() {
      return { ...stats, ridesOpen: open.size }
    },
    next(nowMs: number): GeneratedRecord[] {
      if (!(nowMs > lastNow)) return []
      lastNow = nowMs
      // Counting from the start, not from the previous call, keeps the long-run rate exact.
      const due = Math.floor(((nowMs - opts.startMs) * opts.ratePerSec) / 1000)
      const out: GeneratedRecord[] = []
      for (let k = stats.emitted; k < due; k++) {
        // Record k is due once the clock reaches (k + 1) records' worth of time.
        const at = Math.min(nowMs, opts.startMs + Math.ceil((k + 1) * msPerRecord))
        const r = rng.chance(opts.malformedFraction) ? malformedAt(at) : validAt(at)
        if (r.valid) stats.valid++
        else stats.malformed++
        out.push(r)
      }
      stats.emitted = Math.max(stats.emitted, due)
      return out
    },
  }
}
