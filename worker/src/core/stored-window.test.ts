import { describe, expect, it } from 'vitest'
import { emptyAgg, type WindowAgg } from './aggregate.js'
import { CorruptRecordError } from '@ridepulse/contracts'
import { decodeStoredWindow, encodeStoredWindow } from './stored-window.js'

const agg = (o: Partial<WindowAgg>): WindowAgg => ({ ...emptyAgg(), ...o })

describe('stored window values', () => {
  it.each([
    ['an empty window', agg({}), 7],
    ['a final one', agg({ requested: 5, matched: 3, completed: 1, cancelled: 1, seq: 10, rev: 4, final: true }), 7],
    ['varint edges', agg({ requested: 127, matched: 128, completed: 16_383, cancelled: 16_384, seq: 2 ** 31, rev: 2 ** 32 + 1 }), 1 + 1 + 2 + 2 + 3 + 5 + 5],
    ['the largest safe integers', agg({ seq: Number.MAX_SAFE_INTEGER, rev: Number.MAX_SAFE_INTEGER }), 1 + 4 + 8 + 8],
  ])('round-trip %s in %i bytes', (_what, a, size) => {
    const b = encodeStoredWindow(a)
    expect(b.length).toBe(size)
    expect(decodeStoredWindow(b)).toEqual(a)
  })

  it('gives each value its own buffer', () => {
    const one = encodeStoredWindow(agg({ requested: 1 }))
    encodeStoredWindow(agg({ requested: 2 }))
    expect(decodeStoredWindow(one).requested).toBe(1)
  })

  it.each([
    ['a negative count', agg({ requested: -1 })],
    ['a fraction', agg({ seq: 1.5 })],
    ['an unsafe integer', agg({ seq: 2 ** 53 })],
  ])('refuses to encode %s', (_what, a) => {
    expect(() => encodeStoredWindow(a)).toThrow(RangeError)
  })

  it.each([
    ['nothing', []],
    ['unknown flags', [0x02, 0, 0, 0, 0, 0, 0]],
    ['a missing field', [0, 0, 0, 0, 0, 0]],
    ['a varint cut short', [0, 0, 0, 0, 0, 0, 0x80]],
    ['a varint of 9 bytes', [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['a value past the safe integers', [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['trailing bytes', [0, 0, 0, 0, 0, 0, 0, 0]],
  ])('refuses %s', (_what, bytes) => {
    expect(() => decodeStoredWindow(Uint8Array.from(bytes))).toThrow(CorruptRecordError)
  })
})
