import { z } from 'zod'
import { encodeJson as json, parseJson } from './codec.js'
import type { RideType } from './event.js'

const count = z.number().int().nonnegative()

/** A window's four counts, as an output record carries them. */
export interface Counts {
  requested: number
  matched: number
  completed: number
  cancelled: number
}

export function countEvents(events: Iterable<{ type: RideType }>): Counts {
  const c = { requested: 0, matched: 0, completed: 0, cancelled: 0 }
  for (const e of events) c[e.type]++
  return c
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

/** A record of the late topic: the event, and the watermark that made it late. */
export interface LateRecord {
  eventId: string
  /** Where the event is in the shard's input (`orders.enriched`, partition `shard`): what tells apart two copies of one event. */
  offset?: number
  zone: string
  type: string
  ts: number
  windowStart: number
  watermark: number
  shard: number
}

