export interface OutgoingRecord {
  topic: string
  partition: number
  key?: Buffer | string
  value: Buffer | null
  timestamp?: number
  headers?: readonly (readonly [string, Buffer])[]
}

export const toMessage = (r: OutgoingRecord) => ({
  topic: r.topic,
  partition: r.partition,
  key: typeof r.key === 'string' ? Buffer.from(r.key) : r.key,
  value: r.value ?? undefined,
  timestamp: r.timestamp === undefined ? undefined : BigInt(r.timestamp),
  ...(r.headers?.length ? { headers: new Map(r.headers.map(([k, v]) => [Buffer.from(k), v])) } : {}),
})

/** Half the broker's default `max.message.bytes`: room for batch headers and compression's worst case. */
export const MAX_SEND_BYTES = 512 * 1024

/** The first offset each partition got in a send made of several calls. */
export function noteBaseOffsets(into: Map<string, number>, offsets: ReadonlyMap<string, number>): void {
  for (const [tp, offset] of offsets) if (!into.has(tp)) into.set(tp, offset)
}

export interface SendResult {
  /** Base offset of the records sent, per `topic:partition`. */
  baseOffsets: Map<string, number>
}
