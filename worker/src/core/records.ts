import { z } from 'zod'
import { CorruptRecordError, encodeJson as json, parseJson } from '@ridepulse/contracts'
import { STATE_VERSION, type WindowAgg } from './aggregate.js'

/** Changelog key of a shard's metadata record; window keys always hold a '|'. */
export const META_KEY = '__meta__'

/** What a shard's state holds besides its windows: where it stands. */
export interface ShardMeta {
  /** Next offset to read from the shard's input partition. */
  inputOffset: number
  watermark: number
  maxEventTs: number
  /** Events sent to the late topic so far. */
  late: number
  seq: number
}

export const initialMeta = (): ShardMeta => ({ inputOffset: 0, watermark: -1, maxEventTs: -1, late: 0, seq: 0 })

const count = z.number().int().nonnegative()

const windowValueSchema = z.object({
  requested: count,
  matched: count,
  completed: count,
  cancelled: count,
  seq: count,
  rev: count,
  final: z.boolean(),
  v: z.literal(STATE_VERSION),
})

const metaValueSchema = z.object({
  inputOffset: count,
  watermark: z.number(),
  maxEventTs: z.number(),
  late: count,
  seq: count,
  v: z.literal(STATE_VERSION),
})

export const encodeWindowValue = (a: WindowAgg): Buffer => json({ ...a, v: STATE_VERSION })

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0

/**
 * Decodes a changelog window value. This runs once per record replayed, so
 * the well-formed case is read straight from the bytes; anything else goes
 * through JSON and the schema, for the same result or a precise error.
 */
export const decodeWindowValue = (b: Buffer): WindowAgg => scanWindowValue(b) ?? decodeWindowValueSlow(b)

const QUOTE = 0x22
const COLON = 0x3a
const COMMA = 0x2c
const CLOSE = 0x7d
const ZERO = 0x30
const NINE = 0x39
const FIELDS = ['requested', 'matched', 'completed', 'cancelled', 'seq', 'rev', 'final', 'v'] as const
const FIELD_BYTES = FIELDS.map((f) => Buffer.from(f))
const FINAL = 6
const VERSION = 7
const ALL_FIELDS = (1 << FIELDS.length) - 1
const TRUE = Buffer.from('true')
const FALSE = Buffer.from('false')

/** Whether `b` holds `word` at `at` (a plain loop: Buffer#compare costs more than the scan itself). */
function bytesAt(b: Buffer, at: number, word: Buffer): boolean {
  if (at + word.length > b.length) return false
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false
  return true
}

/** Index in FIELDS of the name `b[start, end)`, or -1. */
function fieldAt(b: Buffer, start: number, end: number): number {
  for (let f = 0; f < FIELD_BYTES.length; f++) {
    const name = FIELD_BYTES[f]!
    if (name.length === end - start && name[0] === b[start] && bytesAt(b, start, name)) return f
  }
  return -1
}

/**
 * The compact JSON object `encodeWindowValue` writes, fields in any order:
 * each field once, counts as plain digits, `final` true or false, `v` the
 * current version. Anything else (spaces, other fields, other numbers, a
 * duplicate) returns undefined and is left to JSON.parse.
 */
export function scanWindowValue(b: Buffer): WindowAgg | undefined {
  const n = b.length
  if (n < 2 || b[0] !== 0x7b) return undefined
  const vals = [0, 0, 0, 0, 0, 0, 0, 0]
  let seen = 0
  let i = 1
  for (;;) {
    if (b[i] !== QUOTE) return undefined
    const nameStart = ++i
    while (i < n && b[i] !== QUOTE) i++
    const field = fieldAt(b, nameStart, i)
    if (field < 0 || (seen & (1 << field)) !== 0 || b[i + 1] !== COLON) return undefined
    seen |= 1 << field
    i += 2
    if (field === FINAL) {
      if (bytesAt(b, i, TRUE)) {
        vals[FINAL] = 1
        i += 4
      } else if (bytesAt(b, i, FALSE)) {
        i += 5
      } else return undefined
    } else {
      const start = i
      let v = 0
      while (i < n && b[i]! >= ZERO && b[i]! <= NINE) v = v * 10 + (b[i++]! - ZERO)
      const digits = i - start
      // No leading zero (JSON has none), and few enough digits to stay exact.
      if (digits === 0 || digits > 15 || (digits > 1 && b[start] === ZERO)) return undefined
      vals[field] = v
    }
    if (b[i] === COMMA) {
      i++
      continue
    }
    if (b[i] !== CLOSE || i !== n - 1 || seen !== ALL_FIELDS || vals[VERSION] !== STATE_VERSION) return undefined
    return { requested: vals[0]!, matched: vals[1]!, completed: vals[2]!, cancelled: vals[3]!, seq: vals[4]!, rev: vals[5]!, final: vals[FINAL] === 1 }
  }
}

function decodeWindowValueSlow(b: Buffer): WindowAgg {
  let o: Record<string, unknown> | undefined
  try {
    o = JSON.parse(b.toString('utf8')) as Record<string, unknown>
  } catch {
    o = undefined
  }
  if (
    o &&
    o.v === STATE_VERSION &&
    isCount(o.requested) &&
    isCount(o.matched) &&
    isCount(o.completed) &&
    isCount(o.cancelled) &&
    isCount(o.seq) &&
    isCount(o.rev) &&
    typeof o.final === 'boolean'
  ) {
    return { requested: o.requested, matched: o.matched, completed: o.completed, cancelled: o.cancelled, seq: o.seq, rev: o.rev, final: o.final }
  }
  const { v: _v, ...agg } = parseJson(windowValueSchema, b, 'changelog window value')
  return agg
}

export const encodeMeta = (m: ShardMeta): Buffer => json({ ...m, v: STATE_VERSION })
export const decodeMeta = (b: Buffer): ShardMeta => {
  const { v: _v, ...meta } = parseJson(metaValueSchema, b, 'changelog meta value')
  return meta
}

export { CorruptRecordError }
