import { createRecordsBatch, crc32c, Reader, readRecordsBatch } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import type { OutgoingRecord } from './outgoing.js'
import { encodeRecordBatch, nextSequence, type BatchWriter } from './record-batch-writer.js'
import { decodeRecordBatches } from './record-batches.js'

const writer: BatchWriter = { producerId: 4711n, producerEpoch: 3, baseSequence: 12_345, transactional: true }

/** A small deterministic generator (no dependency): records of every shape a worker sends. */
function records(seed: number, n: number, spreadMs = 2 ** 40): OutgoingRecord[] {
  let s = seed >>> 0
  const next = () => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32)
  const text = (max: number) => Array.from({ length: Math.floor(next() * max) }, () => (next() < 0.1 ? ['é', '€', '😀'][Math.floor(next() * 3)]! : String.fromCharCode(32 + Math.floor(next() * 90)))).join('')
  const out: OutgoingRecord[] = []
  for (let i = 0; i < n; i++) {
    const k = next()
    const key = k < 0.2 ? undefined : k < 0.6 ? text(20) : Buffer.from(text(30))
    const value = next() < 0.1 ? null : Buffer.from(text(next() < 0.05 ? 2000 : 200))
    const headers = next() < 0.3 ? Array.from({ length: 1 + Math.floor(next() * 3) }, () => [text(12), Buffer.from(text(40))] as const) : undefined
    // Timestamps out of order, far apart, or missing (the batch's `now`).
    const timestamp = next() < 0.2 ? undefined : 1_700_000_000_000 + Math.floor((next() - 0.5) * spreadMs)
    out.push({ topic: 't', partition: 0, value, ...(key !== undefined ? { key } : {}), ...(headers ? { headers } : {}), ...(timestamp !== undefined ? { timestamp } : {}) })
  }
  return out
}

const asBuffer = (v: Buffer | string | undefined | null) => (v === undefined || v === null ? null : typeof v === 'string' ? Buffer.from(v) : v)

describe('encodeRecordBatch', () => {
  it('writes what the decoder reads back, record by record', () => {
    const now = 1_800_000_000_000
    for (let seed = 1; seed <= 20; seed++) {
      const rs = records(seed, 1 + seed * 13)
      const buf = encodeRecordBatch(rs, writer, now)
      const [batch, ...more] = decodeRecordBatches(buf)
      expect(more).toEqual([])
      expect(batch!.producerId).toBe(writer.producerId)
      expect(batch!.attributes & 0x10).toBe(0x10)
      expect(batch!.lastOffsetDelta).toBe(rs.length - 1)
      expect(batch!.records.map((r) => [r.offset, r.key, r.value, r.timestamp, r.headers.map(([k, v]) => [k, v])])).toEqual(
        rs.map((r, i) => [i, asBuffer(r.key), r.value, r.timestamp ?? now, (r.headers ?? []).map(([k, v]) => [k, v])]),
      )
      expect(buf.readInt32BE(53)).toBe(writer.baseSequence)
      expect(buf.readInt16BE(51)).toBe(writer.producerEpoch)
      expect(buf.readUInt32BE(17)).toBe(crc32c(buf.subarray(21)) >>> 0)
      // The client's reader agrees, timestamps years apart included.
      const theirs = readRecordsBatch(Reader.from(buf))
      expect(theirs.records.map((r) => Number(theirs.firstTimestamp + r.timestampDelta))).toEqual(rs.map((r) => r.timestamp ?? now))
    }
  })

  it('writes the same bytes as the Kafka client\'s own encoder, but for the leader epoch it leaves to the broker', () => {
    for (let seed = 100; seed <= 110; seed++) {
      // Timestamps within days of each other: the client's own varlong is wrong from 2^31 on (its low byte).
      const rs = records(seed, 50, 2 ** 30).map((r) => ({ ...r, timestamp: r.timestamp ?? 1_700_000_000_000 }))
      const ours = encodeRecordBatch(rs, writer, 0)
      const messages = rs.map((r) => ({
        topic: r.topic,
        partition: r.partition,
        key: asBuffer(r.key) ?? undefined,
        value: r.value ?? undefined,
        timestamp: BigInt(r.timestamp),
        headers: new Map((r.headers ?? []).map(([k, v]) => [Buffer.from(k), v])),
      }))
      const sequences = { getWithDefault: () => writer.baseSequence }
      const theirs = createRecordsBatch(messages as never, { producerId: writer.producerId, producerEpoch: writer.producerEpoch, transactionalId: 'x', sequences } as never).buffer
      // The partition leader epoch is ours -1 (the broker's to fill in), theirs 0.
      expect(ours.readInt32BE(12)).toBe(-1)
      expect(theirs.readInt32BE(12)).toBe(0)
      expect(ours.subarray(16)).toEqual(theirs.subarray(16))
      expect(ours.subarray(0, 12)).toEqual(theirs.subarray(0, 12))
    }
  })

  it('refuses an empty batch, and wraps sequence numbers as Kafka does', () => {
    expect(() => encodeRecordBatch([], writer, 0)).toThrow(/at least one record/)
    expect(nextSequence(5, 3)).toBe(8)
    expect(nextSequence(2 ** 31 - 2, 5)).toBe(3)
  })
})
