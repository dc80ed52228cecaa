import { describe, expect, it } from 'vitest'
import { firstOpenWindowStart, isFinal, windowStart } from './windows.js'

describe('windowStart', () => {
  it.each([
    [0, 60_000, 0],
    [59_999, 60_000, 0],
    [60_000, 60_000, 60_000],
    [60_001, 60_000, 60_000],
    [-1, 60_000, -60_000],
    [1_700_000_012_345, 60_000, 1_699_999_980_000],
  ])('ts %i with size %i starts at %i', (ts, size, start) => {
    expect(windowStart(ts, size)).toBe(start)
  })
})

describe('isFinal', () => {
  it.each([
    // start, size, lateness, watermark, final
    [0, 60_000, 0, 59_999, false],
    [0, 60_000, 0, 60_000, true],
    [0, 60_000, 5_000, 64_999, false],
    [0, 60_000, 5_000, 65_000, true],
  ])('window %i size %i lateness %i at watermark %i: final=%s', (start, size, lateness, wm, final) => {
    expect(isFinal(start, size, lateness, wm)).toBe(final)
  })

  it('firstOpenWindowStart agrees with isFinal on both sides of the boundary', () => {
    for (const wm of [0, 59_999, 60_000, 64_999, 65_000, 125_000, 1_700_000_065_000]) {
      const open = firstOpenWindowStart(60_000, 5_000, wm)
      expect(isFinal(open, 60_000, 5_000, wm)).toBe(false)
      expect(isFinal(open - 60_000, 60_000, 5_000, wm)).toBe(true)
    }
  })
})
