import { PartitionReader, type ConsumedRecord, type KafkaSettings } from '../kafka/client.js'

const FETCH = { maxWaitMs: 200, maxBytes: 8 * 1024 * 1024 }
/** Empty fetches in a row below the end offset before giving up: the partition should have data there. */
const MAX_STALLS = 50

export class PartitionReadStalledError extends Error {
  constructor(topic: string, partition: number, offset: number, end: number) {
    super(`reading ${topic}[${partition}] stalled at offset ${offset}, below the end offset ${end} seen at the start`)
    this.name = 'PartitionReadStalledError'
  }
}

/**
 * Every committed record of one partition, from offset 0 to the end offset
 * (the last stable offset) seen at the start, in offset order. Later records
 * are left out, so the result is one consistent cut even while producers run.
 */
export async function readWholePartition(settings: KafkaSettings, topic: string, partition: number): Promise<ConsumedRecord[]> {
  const reader = new PartitionReader(settings, topic, partition)
  try {
    const end = await reader.endOffset()
    const records: ConsumedRecord[] = []
    let offset = 0
    let stalls = 0
    while (offset < end) {
      const res = await reader.fetch(offset, FETCH)
      for (const r of res.records) if (r.offset < end) records.push(r)
      // Aborted records and transaction markers advance the offset without yielding records.
      if (res.nextOffset > offset) stalls = 0
      else if (++stalls >= MAX_STALLS) throw new PartitionReadStalledError(topic, partition, offset, end)
      offset = res.nextOffset
    }
    return records
  } finally {
    await reader.close()
  }
}

/** Partitions 0..partitions-1 one after another, each in offset order; read in parallel. */
export async function readWholeTopic(settings: KafkaSettings, topic: string, partitions: number): Promise<ConsumedRecord[]> {
  const parts = await Promise.all(Array.from({ length: partitions }, (_, p) => readWholePartition(settings, topic, p)))
  return parts.flat()
}
