import { crc32c } from '@platformatic/kafka'
import type { OutgoingRecord } from './outgoing.js'

/**
 * Encoder of one partition's records as a Kafka record batch (magic 2,
 * uncompressed), the layout `record-batches.ts` reads. A transaction sends
 * tens of thousands of small records a second: the batch is sized first,
 * then written into one buffer, keys and header names straight from their
 * strings, with no object or buffer per record beside it.
 */

/** Who writes the batch and where it stands in their sequence for the partition. */
export interface BatchWriter {
  producerId: bigint
  producerEpoch: number
  /** The sequence number of the batch's first record (the one after the previous batch's last). */
  baseSequence: number
  transactional: boolean
}

const RECORDS_START = 61
const CRC_AT = 17
const ATTRIBUTES_AT = 21
const TRANSACTIONAL = 0x10
/** A producer does not know the partition leader's epoch; the broker writes its own. */
const NO_PARTITION_LEADER_EPOCH = -1
/** Kafka's sequence numbers run to Integer.MAX_VALUE and start again at 0. */
const SEQUENCE_SPAN = 2 ** 31

/** The sequence number after `n` records from `sequence`. */
export const nextSequence = (sequence: number, n: number): number => (sequence + n) % SEQUENCE_SPAN

const zigzag = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1)

/** Bytes of the zigzag varint of `n`, a safe integer. */
function varintSize(n: number): number {
  let u = zigzag(n)
  let size = 1
  while (u >= 128) {
    u = Math.floor(u / 128)
    size++
  }
  return size
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  let u = zigzag(n)
  while (u >= 128) {
    buf[pos++] = (u % 128) | 0x80
    u = Math.floor(u / 128)
  }
  buf[pos++] = u
  return pos
}

const byteLength = (k: Buffer | string | undefined | null): number => (k === undefined || k === null ? -1 : typeof k === 'string' ? Buffer.byteLength(k) : k.length)

/** A length-prefixed field (-1: null), written at `pos`; returns the position after it. */
function writeBytes(buf: Buffer, pos: number, v: Buffer | string | undefined | null, length: number): number {
  pos = writeVarint(buf, pos, length)
  if (length <= 0 || v === undefined || v === null) return pos
  return pos + (typeof v === 'string' ? buf.write(v, pos, length, 'utf8') : v.copy(buf, pos))
}

/**
 * One batch of `records`, all for one partition, stamped with their own
 * timestamps (or `nowMs`). The batch's first timestamp is its first
 * record's; the others are deltas from it, which may be negative.
 */
export function encodeRecordBatch(records: readonly OutgoingRecord[], writer: BatchWriter, nowMs: number): Buffer {
  const n = records.length
  if (n === 0) throw new Error('a record batch holds at least one record')
  const first = records[0]!.timestamp ?? nowMs
  let max = first
  const keyBytes = new Array<number>(n)
  const bodyBytes = new Array<number>(n)
  let total = RECORDS_START
  for (let i = 0; i < n; i++) {
    const r = records[i]!
    const ts = r.timestamp ?? nowMs
    if (!Number.isSafeInteger(ts)) throw new Error(`record ${i} for ${r.topic}:${r.partition} has the timestamp ${ts}, not whole milliseconds`)
    if (ts > max) max = ts
    const kl = byteLength(r.key)
    const vl = r.value === null ? -1 : r.value.length
    let body = 1 + varintSize(ts - first) + varintSize(i) + varintSize(kl) + Math.max(0, kl) + varintSize(vl) + Math.max(0, vl)
    const headers = r.headers ?? []
    body += varintSize(headers.length)
    for (const [hk, hv] of headers) {
      const hkl = Buffer.byteLength(hk)
      body += varintSize(hkl) + hkl + varintSize(hv.length) + hv.length
    }
    keyBytes[i] = kl
    bodyBytes[i] = body
    total += varintSize(body) + body
  }
  const buf = Buffer.allocUnsafe(total)
  buf.writeBigInt64BE(0n, 0) // base offset: the broker assigns it
  buf.writeInt32BE(total - 12, 8) // batch length: what follows this field
  buf.writeInt32BE(NO_PARTITION_LEADER_EPOCH, 12)
  buf.writeInt8(2, 16) // magic
  buf.writeInt16BE(writer.transactional ? TRANSACTIONAL : 0, ATTRIBUTES_AT)
  buf.writeInt32BE(n - 1, 23) // last offset delta
  buf.writeBigInt64BE(BigInt(first), 27)
  buf.writeBigInt64BE(BigInt(max), 35)
  buf.writeBigInt64BE(writer.producerId, 43)
  buf.writeInt16BE(writer.producerEpoch, 51)
  buf.writeInt32BE(writer.baseSequence, 53)
  buf.writeInt32BE(n, 57)
  let pos = RECORDS_START
  for (let i = 0; i < n; i++) {
    const r = records[i]!
    pos = writeVarint(buf, pos, bodyBytes[i]!)
    buf[pos++] = 0 // attributes
    pos = writeVarint(buf, pos, (r.timestamp ?? nowMs) - first)
    pos = writeVarint(buf, pos, i)
    pos = writeBytes(buf, pos, r.key, keyBytes[i]!)
    pos = writeBytes(buf, pos, r.value, r.value === null ? -1 : r.value.length)
    const headers = r.headers ?? []
    pos = writeVarint(buf, pos, headers.length)
    for (const [hk, hv] of headers) {
      pos = writeBytes(buf, pos, hk, Buffer.byteLength(hk))
      pos = writeBytes(buf, pos, hv, hv.length)
    }
  }
  if (pos !== total) throw new Error(`record batch sized ${total} bytes, written ${pos}`)
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_AT)) >>> 0, CRC_AT)
  return buf
}
