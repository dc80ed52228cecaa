/**
 * Decoder of Kafka record batches (magic 2) straight from the bytes of a
 * fetch response. A replay reads hundreds of thousands of records a second:
 * one small object per record, with the key and value as views on the
 * response's buffer, instead of the generic decoder's record, header and
 * buffer objects and its bigint arithmetic.
 *
 * Layout (big-endian; varints are zigzag):
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8
 *   crc uint32 | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64
 *   maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32
 *   recordCount int32 | records
 *
 *   record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
 *           keyLength varint | key | valueLength varint | value | headerCount varint
 *           headers: keyLength varint | key | valueLength varint | value
 */

export interface DecodedRecord {
  offset: number
  key: Buffer | null
  value: Buffer | null
  timestamp: number
  /** The record's headers, in order; one shared empty list when it has none. */
  headers: readonly RecordHeader[]
}

export type RecordHeader = readonly [key: string, value: Buffer | null]

const NO_HEADERS: readonly RecordHeader[] = Object.freeze([])

export interface DecodedBatch {
  firstOffset: bigint
  lastOffsetDelta: number
  attributes: number
  producerId: bigint
  records: DecodedRecord[]
}

/** Inflates the records section of a compressed batch (attributes & 0x07 names the codec). */
export type Decompress = (codec: number, data: Buffer) => Buffer

export class CorruptBatchError extends Error {
  constructor(what: string) {
    super(`record batch: ${what}`)
    this.name = 'CorruptBatchError'
  }
}

const BATCH_OVERHEAD = 12 // baseOffset and batchLength, not counted in batchLength
const RECORDS_START = 61 // from the batch's first byte to its first record
const COMPRESSION = 0x07

/**
 * Decodes every whole batch in `buf`; a batch cut short at the end (a fetch
 * stops at its byte limit mid-batch) is left for the next fetch.
 */
export function decodeRecordBatches(buf: Buffer, decompress?: Decompress): DecodedBatch[] {
  const batches: DecodedBatch[] = []
  let pos = 0
  while (buf.length - pos >= BATCH_OVERHEAD) {
    const batchLength = buf.readInt32BE(pos + 8)
    const end = pos + BATCH_OVERHEAD + batchLength
    if (end > buf.length) break
    if (batchLength < RECORDS_START - BATCH_OVERHEAD) throw new CorruptBatchError(`length ${batchLength} at byte ${pos}`)
    const magic = buf.readInt8(pos + 16)
    if (magic !== 2) throw new CorruptBatchError(`magic ${magic} at byte ${pos}, only 2 is read`)
    const firstOffset = buf.readBigInt64BE(pos)
    const attributes = buf.readInt16BE(pos + 21)
    const lastOffsetDelta = buf.readInt32BE(pos + 23)
    const baseTimestamp = Number(buf.readBigInt64BE(pos + 27))
    const producerId = buf.readBigInt64BE(pos + 43)
    const count = buf.readInt32BE(pos + 57)
    let body = buf
    let at = pos + RECORDS_START
    let bodyEnd = end
    const codec = attributes & COMPRESSION
    if (codec !== 0) {
      if (!decompress) throw new CorruptBatchError(`compressed with codec ${codec} and no decompressor given`)
      body = decompress(codec, buf.subarray(at, end))
      at = 0
      bodyEnd = body.length
    }
    const base = Number(firstOffset)
    const records: DecodedRecord[] = new Array<DecodedRecord>(count)
    const r = new VarReader(body, at, bodyEnd)
    for (let i = 0; i < count; i++) {
      const length = r.varint()
      const recordEnd = r.pos + length
      if (length < 0 || recordEnd > bodyEnd) throw new CorruptBatchError(`record ${i} of the batch at offset ${firstOffset} runs past its batch`)
      r.pos++ // attributes: unused
      const timestampDelta = r.varlong()
      const offsetDelta = r.varint()
      const key = r.bytes()
      const value = r.bytes()
      const headerCount = r.varint()
      let headers = NO_HEADERS
      if (headerCount > 0) {
        const list: RecordHeader[] = []
        for (let h = 0; h < headerCount; h++) list.push([r.bytes()?.toString('utf8') ?? '', r.bytes()])
        headers = list
      }
      if (r.pos > recordEnd) throw new CorruptBatchError(`record ${i} of the batch at offset ${firstOffset}: headers run past the record`)
      r.pos = recordEnd
      records[i] = { offset: base + offsetDelta, key, value, timestamp: baseTimestamp + timestampDelta, headers }
    }
    batches.push({ firstOffset, lastOffsetDelta, attributes, producerId, records })
    pos = end
  }
  return batches
}

class VarReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  /** Zigzag varint of at most 32 bits. */
  varint(): number {
    let u = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.end) throw new CorruptBatchError('varint runs past the batch')
      const b = this.buf[this.pos++]!
      u |= (b & 0x7f) << shift
      if (b < 0x80) break
      shift += 7
      if (shift > 28) throw new CorruptBatchError('varint longer than 5 bytes')
    }
    return (u >>> 1) ^ -(u & 1)
  }

  /** Zigzag varint of up to 64 bits, exact within the safe integers. */
  varlong(): number {
    let u = 0
    let mul = 1
    for (;;) {
      if (this.pos >= this.end) throw new CorruptBatchError('varlong runs past the batch')
      const b = this.buf[this.pos++]!
      u += (b & 0x7f) * mul
      if (b < 0x80) break
      mul *= 128
      if (mul > 2 ** 63) throw new CorruptBatchError('varlong longer than 10 bytes')
    }
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2
  }

  /** A varint length, then that many bytes; -1 is null. */
  bytes(): Buffer | null {
    const n = this.varint()
    if (n < 0) return null
    const start = this.pos
    this.pos += n
    if (this.pos > this.end) throw new CorruptBatchError('bytes run past the batch')
    return this.buf.subarray(start, this.pos)
  }
}
