import { createHash } from 'node:crypto'
import type { RejectCode } from './event.js'

/**
 * A dead letter is the refused record itself: its original bytes as the
 * value, its key, and why and where from in headers (the way Kafka Connect
 * writes its dead-letter queue). Nothing is escaped or wrapped, so it never
 * grows past the original; an original larger than the limit is cut, with
 * its full size and SHA-256 kept in the headers. So a dead letter always
 * fits the broker's limit and can never hold its partition up.
 */

export const DLQ_HEADERS = {
  reason: 'ridepulse.dlq.reason',
  code: 'ridepulse.dlq.code',
  sourceTopic: 'ridepulse.dlq.source.topic',
  sourcePartition: 'ridepulse.dlq.source.partition',
  sourceOffset: 'ridepulse.dlq.source.offset',
  sourceTimestamp: 'ridepulse.dlq.source.timestamp',
  originalBytes: 'ridepulse.dlq.original.bytes',
  originalSha256: 'ridepulse.dlq.original.sha256',
  truncated: 'ridepulse.dlq.truncated',
} as const

/** Longest reason kept, in bytes; a reason never carries the record itself. */
export const MAX_REASON_BYTES = 1024
/** The longest original a dead letter keeps by default (`DLQ_MAX_VALUE_BYTES`). */
export const DEFAULT_DLQ_MAX_VALUE_BYTES = 256 * 1024
/** Longest key kept, in bytes. */
export const MAX_KEY_BYTES = 1024

export interface RefusedRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: Buffer | null
  value: Buffer | null
}

export interface DeadLetterRecord {
  key: Buffer | undefined
  value: Buffer | null
  headers: [string, Buffer][]
}

const cut = (b: Buffer, max: number): Buffer => (b.length > max ? b.subarray(0, max) : b)

/** The dead letter of `rec`, its value cut to at most `maxValueBytes`. */
export function deadLetter(rec: RefusedRecord, reject: { code: RejectCode; reason: string }, maxValueBytes: number): DeadLetterRecord {
  const original = rec.value
  const truncated = original !== null && original.length > maxValueBytes
  const h = (name: string, v: string | number): [string, Buffer] => [name, Buffer.from(String(v))]
  const headers = [
    [DLQ_HEADERS.reason, cut(Buffer.from(reject.reason), MAX_REASON_BYTES)] as [string, Buffer],
    h(DLQ_HEADERS.code, reject.code),
    h(DLQ_HEADERS.sourceTopic, rec.topic),
    h(DLQ_HEADERS.sourcePartition, rec.partition),
    h(DLQ_HEADERS.sourceOffset, rec.offset),
    h(DLQ_HEADERS.sourceTimestamp, rec.timestamp),
    h(DLQ_HEADERS.originalBytes, original?.length ?? -1),
    h(DLQ_HEADERS.truncated, String(truncated)),
  ]
  if (original !== null) headers.push(h(DLQ_HEADERS.originalSha256, createHash('sha256').update(original).digest('hex')))
  return {
    key: rec.key === null ? undefined : cut(rec.key, MAX_KEY_BYTES),
    value: original === null ? null : cut(original, maxValueBytes),
    headers,
  }
}

/** A dead letter read back: what the headers say, and the bytes kept. */
export interface ReadDeadLetter {
  reason: string
  code: string
  sourceTopic: string
  sourcePartition: number
  sourceOffset: number
  sourceTimestamp: number
  originalBytes: number
  originalSha256: string | undefined
  truncated: boolean
  value: Buffer | null
}

/** Reads a dead letter's headers; undefined when they are not those `deadLetter` writes. */
export function readDeadLetter(headers: readonly (readonly [string, Buffer | null])[], value: Buffer | null): ReadDeadLetter | undefined {
  const get = (name: string): string | undefined => headers.find(([k]) => k === name)?.[1]?.toString('utf8')
  const num = (name: string): number => Number(get(name) ?? Number.NaN)
  const reason = get(DLQ_HEADERS.reason)
  const sourceTopic = get(DLQ_HEADERS.sourceTopic)
  const code = get(DLQ_HEADERS.code)
  if (reason === undefined || sourceTopic === undefined || code === undefined) return undefined
  const d: ReadDeadLetter = {
    reason,
    code,
    sourceTopic,
    sourcePartition: num(DLQ_HEADERS.sourcePartition),
    sourceOffset: num(DLQ_HEADERS.sourceOffset),
    sourceTimestamp: num(DLQ_HEADERS.sourceTimestamp),
    originalBytes: num(DLQ_HEADERS.originalBytes),
    originalSha256: get(DLQ_HEADERS.originalSha256),
    truncated: get(DLQ_HEADERS.truncated) === 'true',
    value,
  }
  return [d.sourcePartition, d.sourceOffset, d.sourceTimestamp, d.originalBytes].every(Number.isInteger) ? d : undefined
}
