import { describe, expect, it } from 'vitest'
import { RateOfCount } from './rate.js'

describe('RateOfCount', () => {
  it('is 0 until it has a span, then the growth per second over the window', () => {
    const r = new RateOfCount(10_000)
    expect(r.perSecond()).toBe(0)
    r.note(0, 100)
    expect(r.perSecond()).toBe(0)
    for (let t = 100; t <= 5_000; t += 100) r.note(t, 100 + t / 100)
    expect(r.perSecond()).toBeCloseTo(10, 5)
  })

  it('forgets what is older than the window: a burst long ago no longer counts', () => {
    const r = new RateOfCount(10_000)
    r.note(0, 0)
    r.note(1_000, 500) // the burst
    for (let t = 2_000; t <= 30_000; t += 1_000) r.note(t, 500)
    expect(r.perSecond()).toBe(0)
    r.note(31_000, 520)
    expect(r.perSecond()).toBeCloseTo(2, 5)
  })

  it('keeps one sample per second, so its memory is bounded by the window', () => {
    const r = new RateOfCount(60_000)
    for (let t = 0; t < 600_000; t += 10) r.note(t, t)
    expect(r.perSecond()).toBeCloseTo(1000, 0)
    expect(r.sampleCount).toBeLessThanOrEqual(63) // one a second over 60 s, the base and the newest
  })
})
