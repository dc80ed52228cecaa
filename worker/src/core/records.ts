import { z } from 'zod'
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

export class CorruptRecordError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(what, options)
    this.name = 'CorruptRecordError'
  }
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v))

function parseJson<T>(schema: z.ZodType<T>, value: Buffer, what: string): T {
  let raw: unknown
  try {
    raw = JSON.parse(value.toString('utf8'))
  } catch (err) {
    throw new CorruptRecordError(`${what}: not JSON`, { cause: err })
  }
  const r = schema.safeParse(raw)
  if (!r.success) throw new CorruptRecordError(`${what}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return r.data
}

export const encodeWindowValue = (a: WindowAgg): Buffer => json({ ...a, v: STATE_VERSION })

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0

/**
 * Decodes a changelog window value. This runs once per record replayed, so
 * the well-formed case is checked by hand; anything else goes through the
 * schema for a precise error.
 */
export const decodeWindowValue = (b: Buffer): WindowAgg => {
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

/** A record of `orders.output`. */
export interface OutputRecord {
  zone: string
  windowStart: number
  windowEnd: number
  requested: number
  matched: number
  completed: number
  cancelled: number
  rev: number
  final: boolean
  emittedAt: number
}

export const outputSchema = z.object({
  zone: z.string().min(1),
  windowStart: z.number().int(),
  windowEnd: z.number().int(),
  requested: count,
  matched: count,
  completed: count,
  cancelled: count,
  rev: z.number().int().positive(),
  final: z.boolean(),
  emittedAt: z.number(),
})

export const encodeOutput = (o: OutputRecord): Buffer => json(o)
export const decodeOutput = (b: Buffer): OutputRecord => parseJson(outputSchema, b, 'output record')

/** A record of the dead-letter topic: the raw bytes kept as text, and why they were refused. */
export interface DeadLetter {
  reason: string
  raw: string
  sourceTopic: string
  sourcePartition: number
  sourceOffset: number
  at: number
}

/** A record of the late topic: the event, and the watermark that made it late. */
export interface LateRecord {
  eventId: string
  zone: string
  type: string
  ts: number
  windowStart: number
  watermark: number
  shard: number
}

export const encodeJson = json
