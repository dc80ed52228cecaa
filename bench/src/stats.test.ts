import { describe, expect, it } from 'vitest'
import { summarize } from './stats.js'

describe('summarize', () => {
  it('gives percentiles of the sample itself, to three significant digits', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1) // 1..100 ms
    const s = summarize(xs)
    expect(s.n).toBe(100)
    expect(s.p50).toBeCloseTo(50, 0)
    expect(s.p95).toBeCloseTo(95, 0)
    expect(s.p99).toBeCloseTo(99, 0)
    expect(s.max).toBeCloseTo(100, 0)
    expect(s.min).toBeCloseTo(1, 1)
    expect(s.mean).toBeCloseTo(50.5, 0)
  })

  it('is exact enough for one slow outlier among fast samples', () => {
    const s = summarize([...Array.from({ length: 19 }, () => 700), 2400])
    expect(s.p50).toBeCloseTo(700, -1)
    expect(s.p95).toBeCloseTo(700, -1) // 19 of 20 are at or below 700
    expect(s.max).toBeCloseTo(2400, -1)
  })

  it('handles no samples', () => expect(summarize([]).n).toBe(0))
})
