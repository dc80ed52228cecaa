/** FNV-1a, 32 bit: a stable spread of zones over shards, the same in every process. */
export function hash32(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export const zonePartition = (zone: string, partitions: number): number => hash32(zone) % partitions

/** The `orders` partitions instance `index` of `instances` owns: a fixed split, no rebalance. */
export const ownedPartitions = (partitions: number, index: number, instances: number): number[] =>
  Array.from({ length: partitions }, (_, p) => p).filter((p) => p % instances === index)
