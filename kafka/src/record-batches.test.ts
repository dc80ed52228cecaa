import { gzipSync, gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { CorruptBatchError, decodeRecordBatches, type Decompress } from './record-batches.js'

/** Encodes records the way a producer does (magic 2), for the decoder to read back. */
const zigzag = (n: number): number[] => {
  let u = n >= 0 ? BigInt(n) * 2n : -BigInt(n) * 2n - 1n
  const out: number[] = []
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80)
    u >>= 7n
  }
  out.push(Number(u))
  return out
}
const bytes = (b: Buffer | null): number[] => (b === null ? zigzag(-1) : [...zigzag(b.length), ...b])

interface TestRecord {
  key: Buffer | null
  value: Buffer | null
  timestampDelta?: number
  headers?: [Buffer, Buffer][]
}

function encodeBatch(opts: { baseOffset: number; baseTimestamp: number; attributes?: number; producerId?: number; records: TestRecord[]; gzip?: boolean; offsetDeltas?: number[] }): Buffer {
  const body: number[] = []
  opts.records.forEach((r, i) => {
    const rec = [0, ...zigzag(r.timestampDelta ?? 0), ...zigzag(opts.offsetDeltas?.[i] ?? i), ...bytes(r.key), ...bytes(r.value), ...zigzag(r.headers?.length ?? 0)]
    for (const [k, v] of r.headers ?? []) rec.push(...bytes(k), ...bytes(v))
    body.push(...zigzag(rec.length), ...rec)
  })
  const records = opts.gzip ? gzipSync(Buffer.from(body)) : Buffer.from(body)
  const head = Buffer.alloc(61)
  head.writeBigInt64BE(BigInt(opts.baseOffset), 0)
  head.writeInt32BE(61 - 12 + records.length, 8)
  head.writeInt32BE(0, 12) // partition leader epoch
  head.writeInt8(2, 16)
  head.writeInt16BE((opts.attributes ?? 0) | (opts.gzip ? 1 : 0), 21)
  const last = opts.offsetDeltas?.at(-1) ?? opts.records.length - 1
  head.writeInt32BE(last, 23)
  head.writeBigInt64BE(BigInt(opts.baseTimestamp), 27)
  head.writeBigInt64BE(BigInt(opts.baseTimestamp), 35)
  head.writeBigInt64BE(BigInt(opts.producerId ?? -1), 43)
  head.writeInt16BE(0, 51)
  head.writeInt32BE(0, 53)
  head.writeInt32BE(opts.records.length, 57)
  return Buffer.concat([head, records])
}

const b = (s: string) => Buffer.from(s)
const gunzip: Decompress = (codec, data) => {
  if (codec !== 1) throw new Error(`codec ${codec}`)
  return gunzipSync(data)
}
const plain = (batches: ReturnType<typeof decodeRecordBatches>) =>
  batches.map((x) => ({
    ...x,
    records: x.records.map((r) => ({ ...r, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null, headers: r.headers.map(([k, v]) => [k, v?.toString() ?? null]) })),
  }))

describe('decodeRecordBatches', () => {
  const ts = 1_763_800_000_000

  it('reads offsets, timestamps, keys, values, nulls and headers', () => {
    const buf = Buffer.concat([
      encodeBatch({
        baseOffset: 40,
        baseTimestamp: ts,
        attributes: 0x10,
        producerId: 7,
        records: [
          { key: b('zone-1|60000'), value: b('{"a":1}'), headers: [[b('h'), b('x')], [b('reason'), b('bad')]] },
          { key: b('zone-2|60000'), value: null, timestampDelta: 1234 },
          { key: null, value: b(''), timestampDelta: -5 },
        ],
      }),
      encodeBatch({ baseOffset: 43, baseTimestamp: ts + 10, records: [{ key: b('k'), value: b('v'), timestampDelta: 2 ** 40 }] }),
    ])
    expect(plain(decodeRecordBatches(buf))).toEqual([
      {
        firstOffset: 40n,
        lastOffsetDelta: 2,
        attributes: 0x10,
        producerId: 7n,
        records: [
          { offset: 40, key: 'zone-1|60000', value: '{"a":1}', timestamp: ts, headers: [['h', 'x'], ['reason', 'bad']] },
          { offset: 41, key: 'zone-2|60000', value: null, timestamp: ts + 1234, headers: [] },
          { offset: 42, key: null, value: '', timestamp: ts - 5, headers: [] },
        ],
      },
      { firstOffset: 43n, lastOffsetDelta: 0, attributes: 0, producerId: -1n, records: [{ offset: 43, key: 'k', value: 'v', timestamp: ts + 10 + 2 ** 40, headers: [] }] },
    ])
  })

  it('keeps the gaps compaction leaves inside a batch', () => {
    const buf = encodeBatch({ baseOffset: 100, baseTimestamp: ts, records: [{ key: b('a'), value: b('1') }, { key: b('b'), value: b('2') }], offsetDeltas: [3, 9] })
    const [batch] = decodeRecordBatches(buf)
    expect(batch!.records.map((r) => r.offset)).toEqual([103, 109])
    expect(batch!.lastOffsetDelta).toBe(9)
  })

  it('leaves a batch cut short at the end of the response for the next fetch', () => {
    const one = encodeBatch({ baseOffset: 0, baseTimestamp: ts, records: [{ key: b('a'), value: b('1') }] })
    const two = encodeBatch({ baseOffset: 1, baseTimestamp: ts, records: [{ key: b('b'), value: b('2') }] })
    for (const cut of [1, 11, 12, two.length - 1]) {
      const batches = decodeRecordBatches(Buffer.concat([one, two.subarray(0, cut)]))
      expect(batches.map((x) => Number(x.firstOffset))).toEqual([0])
    }
    expect(decodeRecordBatches(Buffer.alloc(0))).toEqual([])
  })

  it('inflates a compressed batch with the decompressor given', () => {
    const buf = encodeBatch({ baseOffset: 5, baseTimestamp: ts, gzip: true, records: [{ key: b('a'), value: b('x'.repeat(500)) }, { key: b('b'), value: b('y') }] })
    expect(plain(decodeRecordBatches(buf, gunzip))[0]!.records).toEqual([
      { offset: 5, key: 'a', value: 'x'.repeat(500), timestamp: ts, headers: [] },
      { offset: 6, key: 'b', value: 'y', timestamp: ts, headers: [] },
    ])
    expect(() => decodeRecordBatches(buf)).toThrow(CorruptBatchError)
  })

  it.each([
    ['another magic byte', (x: Buffer) => x.writeInt8(1, 16)],
    ['a record longer than its batch', (x: Buffer) => (x[61] = 0x7e)],
    ['a batch length below its header', (x: Buffer) => x.writeInt32BE(10, 8)],
  ])('refuses %s', (_what, damage) => {
    const buf = encodeBatch({ baseOffset: 0, baseTimestamp: ts, records: [{ key: b('a'), value: b('1') }] })
    damage(buf)
    expect(() => decodeRecordBatches(buf)).toThrow(CorruptBatchError)
  })
})
