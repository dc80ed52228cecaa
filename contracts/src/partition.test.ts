import { describe, expect, it } from 'vitest'
import { ownedPartitions, zonePartition } from './partition.js'

describe('ownedPartitions', () => {
  it.each([
    [6, 0, 3, [0, 3]],
    [6, 2, 3, [2, 5]],
    [2, 1, 3, [1]],
    [2, 2, 3, []],
    [4, 0, 1, [0, 1, 2, 3]],
  ])('%i partitions, instance %i of %i owns %j', (partitions, index, instances, owned) => {
    expect(ownedPartitions(partitions, index, instances)).toEqual(owned)
  })

  it('gives every partition to exactly one instance', () => {
    const all = [0, 1, 2].flatMap((i) => ownedPartitions(10, i, 3)).sort((a, b) => a - b)
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })
})

describe('zonePartition', () => {
  it('sends a zone to the same shard every time, within range, and spreads zones', () => {
    const zones = Array.from({ length: 200 }, (_, i) => `zone-${i}`)
    const shards = zones.map((z) => zonePartition(z, 4))
    expect(zones.map((z) => zonePartition(z, 4))).toEqual(shards)
    expect(shards.every((s) => s >= 0 && s < 4)).toBe(true)
    for (let s = 0; s < 4; s++) expect(shards.filter((x) => x === s).length).toBeGreaterThan(30)
  })
})
