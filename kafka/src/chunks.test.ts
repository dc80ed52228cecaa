import { describe, expect, it } from 'vitest'
import { chunkBySize } from './chunks.js'

const rec = (i: number, valueBytes: number) => ({ key: `k${i}`, value: Buffer.alloc(valueBytes, 1) })

describe('chunkBySize', () => {
  it('keeps a small send whole', () => {
    const rs = [rec(1, 10), rec(2, 10)]
    expect(chunkBySize(rs, 1000)).toEqual([rs])
  })

  it('splits in order, every chunk within the limit, nothing lost', () => {
    const rs = Array.from({ length: 1000 }, (_, i) => rec(i, 50 + (i % 7) * 30))
    const chunks = chunkBySize(rs, 4096)
    expect(chunks.length).toBeGreaterThan(10)
    expect(chunks.flat()).toEqual(rs)
    for (const c of chunks) expect(c.reduce((s, r) => s + r.key.length + r.value.length + 24, 0)).toBeLessThanOrEqual(4096)
  })

  it('sends a record above the limit alone, and tombstones count their key', () => {
    const big = rec(1, 5000)
    const tomb = { key: 'gone', value: null }
    expect(chunkBySize([rec(0, 10), big, tomb], 1000)).toEqual([[rec(0, 10)], [big], [tomb]])
  })

  it('has nothing to send for nothing', () => {
    expect(chunkBySize([], 1000)).toEqual([])
  })
})
