import type { z } from 'zod'

/** A record that does not decode: the caller must not apply it (a changelog record) or must skip it with a reason (an output record). */
export class CorruptRecordError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(what, options)
    this.name = 'CorruptRecordError'
  }
}

export const encodeJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))

/** JSON bytes checked by a schema; throws CorruptRecordError naming `what` and every wrong field. */
export function parseJson<T>(schema: z.ZodType<T>, value: Buffer, what: string): T {
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
