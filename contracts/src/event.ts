import { z } from 'zod'

export const RIDE_TYPES = ['requested', 'matched', 'completed', 'cancelled'] as const
export type RideType = (typeof RIDE_TYPES)[number]

/** An event after OpA: validated, normalized, keyed by zone. */
export interface RideEvent {
  eventId: string
  rideId: string
  zone: string
  type: RideType
  /** Event time, epoch milliseconds. */
  ts: number
  /** When the raw event reached `orders` (its record timestamp): the start of end-to-end latency. */
  ingestMs: number
}

/**
 * Why a raw record was refused: it is not a ride event (`malformed`), or its
 * event time is further ahead of its ingest time than the pipeline allows
 * (`future-event-time`: a device or upstream clock running ahead).
 */
export type RejectCode = 'malformed' | 'future-event-time'

export type ParseResult = { ok: true; event: RideEvent } | { ok: false; code: RejectCode; reason: string }

/** How far an event's time may be ahead of the time its record reached Kafka, by default. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 60_000

const TYPE_ALIASES: Record<string, RideType> = {
  requested: 'requested',
  request: 'requested',
  matched: 'matched',
  match: 'matched',
  assigned: 'matched',
  completed: 'completed',
  complete: 'completed',
  finished: 'completed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
  cancel: 'cancelled',
}

// Anything before 2001-09-09 in milliseconds would be below 1e12; seconds stay
// below 1e11 until the year 5138. The gap between the two tells them apart.
const SECONDS_LIMIT = 1e11
const MIN_TS_MS = Date.UTC(2000, 0, 1)
const MAX_TS_MS = Date.UTC(2100, 0, 1)

export function normalizeZone(raw: string): string {
  return raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_./]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
}

export function normalizeTimestamp(raw: unknown): number | undefined {
  let ms: number | undefined
  if (typeof raw === 'number') {
    ms = raw < SECONDS_LIMIT ? raw * 1000 : raw
  } else if (typeof raw === 'string' && raw.trim() !== '') {
    const s = raw.trim()
    if (/^-?\d+(\.\d+)?$/.test(s)) return normalizeTimestamp(Number(s))
    const parsed = Date.parse(s)
    ms = Number.isNaN(parsed) ? undefined : parsed
  }
  if (ms === undefined || !Number.isFinite(ms)) return undefined
  ms = Math.floor(ms)
  return ms >= MIN_TS_MS && ms < MAX_TS_MS ? ms : undefined
}

const id = z.union([z.string().trim().min(1).max(128), z.number().int().nonnegative()]).transform(String)

const rawSchema = z.object({
  eventId: id,
  rideId: id,
  zone: z.string().max(128).transform(normalizeZone).pipe(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'zone must have letters or digits')),
  type: z
    .string()
    .transform((t) => TYPE_ALIASES[t.trim().toLowerCase()])
    .pipe(z.enum(RIDE_TYPES, { message: `type must be one of ${RIDE_TYPES.join(', ')}` })),
  ts: z.unknown().transform((v, ctx) => {
    const ms = normalizeTimestamp(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'ts must be epoch seconds, epoch milliseconds or ISO-8601 between 2000 and 2100' })
      return z.NEVER
    }
    return ms
  }),
})

const malformed = (reason: string): ParseResult => ({ ok: false, code: 'malformed', reason })

const TYPES = new Map(Object.entries(TYPE_ALIASES))
/** A zone already in its normal form: normalizeZone returns it unchanged. */
const NORMAL_ZONE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const ZONE_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/

function fastId(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const t = v.trim()
    return t.length >= 1 && t.length <= 128 ? t : undefined
  }
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : undefined
}

type RawFields = Omit<RideEvent, 'ingestMs'>

/**
 * The schema's result for a record whose every field is valid, without the
 * schema's machinery; undefined for anything else, which then goes to the
 * schema so that a refusal names its fields the same way. Property-tested
 * against the schema (event.test.ts).
 */
export function validFields(j: Record<string, unknown>): RawFields | undefined {
  const eventId = fastId(j.eventId)
  const rideId = fastId(j.rideId)
  const z = j.zone
  const t = j.type
  if (eventId === undefined || rideId === undefined || typeof z !== 'string' || z.length > 128 || typeof t !== 'string') return undefined
  const zone = z.length <= 64 && NORMAL_ZONE.test(z) ? z : normalizeZone(z)
  const type = TYPES.get(t) ?? TYPES.get(t.trim().toLowerCase())
  const ts = normalizeTimestamp(j.ts)
  if (type === undefined || ts === undefined || !ZONE_PATTERN.test(zone)) return undefined
  return { eventId, rideId, zone, type, ts }
}

/** The schema's verdict on a JSON object, with a reason naming each field that failed. */
function fieldsBySchema(json: object): RawFields | ParseResult {
  const parsed = rawSchema.safeParse(json)
  if (parsed.success) return parsed.data
  const reason = parsed.error.issues
    .map((i) => {
      const field = String(i.path[0] ?? '(root)')
      return `${field}: ${field in json ? i.message : 'missing'}`
    })
    .join('; ')
  return malformed(reason)
}

/**
 * Validates and normalizes one raw `orders` record whose record timestamp
 * is `ingestMs`. An event stamped more than `maxFutureSkewMs` after its
 * ingest time is refused: nothing can happen after it was recorded, so its
 * clock is wrong, and counting it would put it in a minute that has not
 * come yet. Never throws. `bySchemaOnly` skips the fast path (for tests
 * that hold the two together).
 */
export function parseRawEvent(value: Buffer | string | null | undefined, ingestMs: number, maxFutureSkewMs = DEFAULT_MAX_FUTURE_SKEW_MS, bySchemaOnly = false): ParseResult {
  if (value === null || value === undefined || value.length === 0) return malformed('empty record')
  let json: unknown
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'))
  } catch (err) {
    return malformed(`invalid JSON: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return malformed('event must be a JSON object')
  }
  const fields = (bySchemaOnly ? undefined : validFields(json as Record<string, unknown>)) ?? fieldsBySchema(json)
  if ('ok' in fields) return fields
  const ahead = fields.ts - ingestMs
  if (ahead > maxFutureSkewMs) {
    return {
      ok: false,
      code: 'future-event-time',
      reason: `ts: ${new Date(fields.ts).toISOString()} is ${ahead} ms after the record's ingest time ${new Date(ingestMs).toISOString()}; at most ${maxFutureSkewMs} ms is allowed (MAX_FUTURE_SKEW_MS)`,
    }
  }
  return { ok: true, event: { ...fields, ingestMs } }
}

const enrichedSchema = z.object({
  eventId: z.string(),
  rideId: z.string(),
  zone: z.string(),
  type: z.enum(RIDE_TYPES),
  ts: z.number().int(),
  ingestMs: z.number(),
})

export function encodeEvent(e: RideEvent): Buffer {
  return Buffer.from(JSON.stringify(e))
}

const RIDE_TYPE_SET: ReadonlySet<string> = new Set(RIDE_TYPES)

/** The enriched schema's result, checked by hand (OpB reads every event through it); property-tested against the schema. */
function enrichedFields(j: Record<string, unknown>): RideEvent | undefined {
  const { eventId, rideId, zone, type, ts, ingestMs } = j
  if (typeof eventId !== 'string' || typeof rideId !== 'string' || typeof zone !== 'string' || typeof type !== 'string' || !RIDE_TYPE_SET.has(type)) return undefined
  if (!Number.isSafeInteger(ts) || typeof ingestMs !== 'number' || !Number.isFinite(ingestMs)) return undefined
  return { eventId, rideId, zone, type: type as RideType, ts: ts as number, ingestMs }
}

/** Reads an `orders.enriched` record; undefined when it is not one OpA wrote. `bySchemaOnly`: the schema alone (for tests). */
export function decodeEvent(value: Buffer | null | undefined, bySchemaOnly = false): RideEvent | undefined {
  if (!value) return undefined
  try {
    const j: unknown = JSON.parse(value.toString('utf8'))
    if (!bySchemaOnly) return typeof j === 'object' && j !== null && !Array.isArray(j) ? enrichedFields(j as Record<string, unknown>) : undefined
    const r = enrichedSchema.safeParse(j)
    return r.success ? r.data : undefined
  } catch {
    return undefined
  }
}
