import { readToEnd, type ConsumedRecord, type KafkaSettings } from '@ridepulse/kafka'

/** Partitions 0..partitions-1 one after another, each in offset order up to the end seen at its start; read in parallel. */
export async function readWholeTopic(settings: KafkaSettings, topic: string, partitions: number): Promise<ConsumedRecord[]> {
  const parts = await Promise.all(Array.from({ length: partitions }, (_, p) => readToEnd(settings, topic, p)))
  return parts.flat()
}
