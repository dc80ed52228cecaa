import { describe, expect, it } from 'vitest'
import { FLAP_CHANGES, FLAP_WINDOW_MS, leaseFor } from './standby.js'

describe('leaseFor (the flapping guard)', () => {
  const now = 10 * FLAP_WINDOW_MS
  it('gives a silent owner the configured lease while owners rarely change', () => {
    expect(leaseFor([], now, 1000)).toBe(1000)
    expect(leaseFor(Array.from({ length: FLAP_CHANGES - 1 }, (_, i) => now - i * 1000), now, 1000)).toBe(1000)
    // Many changes, but long ago.
    expect(leaseFor(Array.from({ length: 10 }, (_, i) => now - FLAP_WINDOW_MS - 1 - i), now, 1000)).toBe(1000)
  })

  it('quadruples it once the shard changed owners often within the window', () => {
    expect(leaseFor(Array.from({ length: FLAP_CHANGES }, (_, i) => now - i * 60_000), now, 1000)).toBe(4000)
  })
})
