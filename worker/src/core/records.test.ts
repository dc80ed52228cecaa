import { describe, expect, it } from 'vitest'
import { emptyAgg } from './aggregate.js'
import { CorruptRecordError, decodeMeta, decodeWindowValue, encodeMeta, encodeWindowValue, initialMeta } from './records.js'

describe('changelog values', () => {
  it('round-trip a window aggregate and shard metadata', () => {
    const agg = { ...emptyAgg(), requested: 5, matched: 3, completed: 1, cancelled: 1, seq: 9, rev: 4, final: true }
    expect(decodeWindowValue(encodeWindowValue(agg))).toEqual(agg)
    const meta = { ...initialMeta(), inputOffset: 42, watermark: 1_000, seq: 7 }
    expect(decodeMeta(encodeMeta(meta))).toEqual(meta)
  })

  it.each([
    ['not json', /not JSON/],
    [JSON.stringify({ requested: 1 }), /matched/],
    [JSON.stringify({ requested: -1, matched: 0, completed: 0, cancelled: 0, seq: 1, rev: 1, final: false, v: 1 }), /requested/],
    [JSON.stringify({ requested: 1, matched: 0, completed: 0, cancelled: 0, seq: 1, rev: 1, final: false, v: 99 }), /v/],
  ])('refuses %j naming what is wrong', (raw, what) => {
    expect(() => decodeWindowValue(Buffer.from(raw))).toThrow(CorruptRecordError)
    expect(() => decodeWindowValue(Buffer.from(raw))).toThrow(what)
  })
})
