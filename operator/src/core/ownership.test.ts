import { describe, expect, it } from 'vitest'
import type { TopicOwner } from '@ridepulse/contracts'
import { planOwnership } from './ownership.js'

const me: TopicOwner = { uid: 'u-1', namespace: 'city', name: 'rides' }
const written = [
  { role: 'changelog' as const, name: 'cl' },
  { role: 'snapshots' as const, name: 'sn' },
  { role: 'output' as const, name: 'out' },
]

describe('planOwnership', () => {
  it('claims free topics and keeps its own', () => {
    const plan = planOwnership(written, new Map([['cl', me]]), me)
    expect(plan).toEqual({ claim: ['sn', 'out'], adopted: [], conflicts: [] })
  })

  it('takes back the topics of a resource of the same namespace and name (deleted and created again)', () => {
    const previous = { ...me, uid: 'u-0' }
    const plan = planOwnership(written, new Map([['cl', previous], ['sn', me], ['out', me]]), me)
    expect(plan).toEqual({ claim: ['cl'], adopted: [{ topic: 'cl', previous }], conflicts: [] })
  })

  it('leaves another resource\'s topics alone, the same name in another namespace included', () => {
    const other = { uid: 'u-2', namespace: 'harbor', name: 'rides' }
    const plan = planOwnership(written, new Map([['out', other]]), me)
    expect(plan).toEqual({ claim: ['cl', 'sn'], adopted: [], conflicts: [{ topic: 'out', role: 'output', owner: other }] })
  })
})
