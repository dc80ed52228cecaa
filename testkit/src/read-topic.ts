import { PartitionReader, readRange, readToEnd, type ConsumedRecord, type KafkaSettings, type RangeOptions } from '@ridepulse/kafka'

/** Partitions 0..partitions-1 one after another, each in offset order up to the end seen at its start; read in parallel. */
export async function readWholeTopic(settings: KafkaSettings, topic: string, partitions: number): Promise<ConsumedRecord[]> {
  const parts = await Promise.all(Array.from({ length: partitions }, (_, p) => readToEnd(settings, topic, p)))
  return parts.flat()
}

const RANGE: RangeOptions = { maxWaitMs: 200, maxBytes: 8 << 20, maxStalls: 50 }

/** The committed records of one partition below `end`, batch by batch in offset order, each handed to `onBatch` and then let go. */
export async function streamPartition(settings: KafkaSettings, topic: string, partition: number, end: number, onBatch: (records: readonly ConsumedRecord[]) => void): Promise<void> {
  const reader = new PartitionReader(settings, topic, partition)
  try {
    for await (const batch of readRange(reader, 0, end, RANGE)) onBatch(batch)
  } finally {
    await reader.close()
  }
}
