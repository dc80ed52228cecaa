import { describe, expect, it } from 'vitest'
import { emptyAgg } from './aggregate.js'
import { CorruptRecordError } from '@ridepulse/contracts'
import { decodeMeta, decodeWindowValue, encodeMeta, encodeWindowValue, initialMeta, scanWindowValue } from './records.js'

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
    [JSON.stringify({ requested: 1, matched: 0, completed: 0, cancelled: 0, seq: 1.5, rev: 1, final: false, v: 1 }), /seq/],
    [JSON.stringify({ requested: 1, matched: 0, completed: 0, cancelled: 0, seq: 1, rev: 1, final: 'yes', v: 1 }), /final/],
  ])('refuses %j naming what is wrong', (raw, what) => {
    expect(() => decodeWindowValue(Buffer.from(raw))).toThrow(CorruptRecordError)
    expect(() => decodeWindowValue(Buffer.from(raw))).toThrow(what)
  })
})

describe('scanWindowValue (the fast path)', () => {
  const agg = { requested: 12, matched: 0, completed: 7, cancelled: 1, seq: 123_456_789_012, rev: 40, final: false }

  it.each([
    ['as encoded', encodeWindowValue(agg).toString()],
    ['final', encodeWindowValue({ ...agg, final: true }).toString()],
    ['fields in another order', JSON.stringify({ v: 1, final: false, rev: 40, seq: 123_456_789_012, cancelled: 1, completed: 7, matched: 0, requested: 12 })],
  ])('reads %s exactly as JSON.parse does', (_what, raw) => {
    const fast = scanWindowValue(Buffer.from(raw))
    const { v: _v, ...slow } = JSON.parse(raw) as Record<string, unknown>
    expect(fast).toEqual(slow)
  })

  it.each([
    ['spaces', JSON.stringify({ ...agg, v: 1 }, null, 1)],
    ['an unknown field', JSON.stringify({ ...agg, v: 1, extra: 1 })],
    ['a duplicate field', '{"requested":1,"requested":2,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['a missing field', '{"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['a fraction', '{"requested":1.0,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['an exponent', '{"requested":1e3,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['a negative count', '{"requested":-1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['a leading zero', '{"requested":01,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['16 digits', '{"requested":1234567890123456,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'],
    ['another version', '{"requested":1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":2}'],
    ['a truncated value', '{"requested":1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":tr'],
    ['a missing brace', '{"requested":1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1'],
    ['trailing bytes', '{"requested":1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}x'],
    ['an empty object', '{}'],
    ['nothing', ''],
  ])('leaves %s to the slow path', (_what, raw) => {
    expect(scanWindowValue(Buffer.from(raw))).toBeUndefined()
  })

  it('falls back without changing the result or the error', () => {
    expect(decodeWindowValue(Buffer.from(JSON.stringify({ ...agg, v: 1 }, null, 1)))).toEqual(agg)
    expect(decodeWindowValue(Buffer.from('{"requested":1.0,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":false,"v":1}'))).toEqual({ ...agg, requested: 1, completed: 0, cancelled: 0, seq: 1, rev: 1 })
    expect(() => decodeWindowValue(Buffer.from('{"requested":1,"matched":0,"completed":0,"cancelled":0,"seq":1,"rev":1,"final":tr'))).toThrow(CorruptRecordError)
  })
})
