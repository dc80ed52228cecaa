import { compressionsAlgorithmsByBitmask, createAPI, fetchV17, ResponseError, type Reader } from '@platformatic/kafka'
import type { Decompress } from './record-batches.js'

export interface RawFetchPartition {
  partitionIndex: number
  errorCode: number
  highWatermark: bigint
  lastStableOffset: bigint
  abortedTransactions: { producerId: bigint; firstOffset: bigint }[]
  /** The partition's record batches, undecoded. */
  records: Buffer | undefined
}

/**
 * Fetch v17's response, read like the client reads it except for the
 * records: they stay bytes, decoded by `decodeRecordBatches`.
 */
function parseRawFetch(_correlationId: number, apiKey: number, apiVersion: number, reader: Reader): RawFetchPartition[] {
  const errors: [string, [number, null]][] = []
  reader.readInt32() // throttle_time_ms
  const errorCode = reader.readInt16()
  if (errorCode !== 0) errors.push(['', [errorCode, null]])
  reader.readInt32() // session_id
  const partitions: RawFetchPartition[] = []
  reader.readArray((r, i) => {
    r.readUUID()
    r.readArray((r, j) => {
      const p: RawFetchPartition = {
        partitionIndex: r.readInt32(),
        errorCode: r.readInt16(),
        highWatermark: r.readInt64(),
        lastStableOffset: r.readInt64(),
        abortedTransactions: [],
        records: undefined,
      }
      r.readInt64() // log_start_offset
      p.abortedTransactions = r.readArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() }))
      r.readInt32() // preferred_read_replica
      if (p.errorCode !== 0) errors.push([`/responses/${i}/partitions/${j}`, [p.errorCode, null]])
      const size = r.readUnsignedVarInt() - 1 // COMPACT_RECORDS: length + 1, 0 for null
      if (size > 0) {
        p.records = r.buffer.slice(r.position, r.position + size)
        r.skip(size)
      }
      partitions.push(p)
    })
  })
  if (errors.length) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), partitions)
  return partitions
}

// The records of a fetch are decoded here, not by the client (see
// record-batches.ts); the request itself is the client's Fetch v17 (Kafka 3.8+).
export const rawFetch = createAPI<Parameters<typeof fetchV17.createRequest>, RawFetchPartition[]>(1, 17, fetchV17.createRequest, parseRawFetch)

export const decompress: Decompress = (codec, data) => {
  const algorithm = compressionsAlgorithmsByBitmask[codec]
  if (!algorithm) throw new Error(`record batch compressed with unknown codec ${codec}`)
  return algorithm.decompressSync(data)
}

/** The size of the record batch that `records` begins with, when they hold less than all of it. */
export function wholeBatchBytes(records: Buffer | undefined): number | undefined {
  if (!records || records.length < 12) return undefined
  const size = 12 + records.readInt32BE(8)
  return size > records.length ? size : undefined
}
